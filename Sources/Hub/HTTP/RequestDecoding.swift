import Foundation
import Hummingbird
import NIOCore
import SendenseAPI
import SendenseCore

extension Request {
    /// Reads and decodes a JSON body of at most `limit` bytes. Every failure
    /// is a 4xx with a message naming the field at fault.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        guard let value = try await decodeJSON(type, limit: limit, allowEmpty: false) else {
            throw APIError.badRequest("request body is empty; expected a JSON object")
        }
        return value
    }

    /// As `decodeJSON`, for routes whose body is optional: nil when there is none.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int, allowEmpty: Bool) async throws -> T? {
        if let length = headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "request body is \(length) bytes; the limit is \(limit)")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, "request body is larger than the limit of \(limit) bytes")
        }
        if buffer.readableBytes == 0 {
            if allowEmpty { return nil }
            throw APIError.badRequest("request body is empty; expected a JSON object")
        }
        do {
            return try APIJSON.decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw APIError.badRequest(Self.describe(error))
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError.badRequest("request body is not valid: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func field(_ path: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            let keys = path + (last.map { [$0] } ?? [])
            return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
                .joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(field(context.codingPath, key))'"
        case .valueNotFound(_, let context):
            return "field '\(field(context.codingPath))' must not be null"
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "request body must be a JSON object" }
            return "field '\(field(context.codingPath))' must be \(describe(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "request body is not valid JSON" }
            return "field '\(field(context.codingPath))' is not valid: \(context.debugDescription)"
        @unknown default:
            return "request body is not valid"
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt8.Type: "a whole number"
        case is Double.Type: "a number"
        default: "of type \(type)"
        }
    }
}

extension Parameters {
    /// A numeric id from the path, or 400 saying what was wrong.
    func requireID(_ name: String) throws -> Int64 {
        guard let text = self.get(name) else { throw APIError.badRequest("missing \(name) in path") }
        guard let value = Int64(text), value > 0 else {
            throw APIError.badRequest("\(name) must be a positive whole number, got '\(text)'")
        }
        return value
    }
}

/// A true/false from the query string (absent: false), or 400 saying what was wrong.
enum QueryFlag {
    static func parse(_ text: Substring?, _ name: String) throws -> Bool {
        switch text {
        case nil, "false"?: return false
        case "true"?: return true
        case let text?: throw APIError.badRequest("\(name) must be true or false, got '\(text)'")
        }
    }
}

/// A whole number from the query string (a page size, an offset), or 400 saying what was wrong.
enum QueryNumber {
    static func parse(_ text: Substring?, _ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return number
    }
}
