import ArgumentParser
import AsyncHTTPClient
import Foundation
import Repository
import SendenseAPI
import NIOCore
import NIOHTTP1

/// Options every client command takes.
struct ClientOptions: ParsableArguments {
    @Option(help: "Hub URL, e.g. http://localhost:8082 (default: the one `sendense login` used, or SENDENSE_URL).")
    var url: String?

    @Flag(help: "Print the hub's JSON answer instead of a table.")
    var json = false
}

/// A small REST client for the hub. Errors come back as the hub's own
/// `{"error": …}` message.
struct APIClient {
    let baseURL: String
    let token: String?

    /// From flags, environment and the saved config, in that order.
    static func make(_ options: ClientOptions, needsToken: Bool = true) throws -> APIClient {
        let environment = ProcessInfo.processInfo.environment
        let saved = ClientConfig.load()
        guard let url = options.url ?? environment["SENDENSE_URL"] ?? saved?.url else {
            throw CLIError("no hub URL: run `sendense login --url http://HOST:8082` or set SENDENSE_URL")
        }
        let token = environment["SENDENSE_TOKEN"] ?? saved?.token
        if needsToken && token == nil { throw CLIError("not logged in: run `sendense login`") }
        return APIClient(baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url, token: token)
    }

    /// Sends a request whose answer carries nothing to read (204, 202).
    func send(_ method: HTTPMethod, _ path: String) async throws {
        _ = try await exchange(method, path, body: nil)
    }

    /// Sends a request and decodes the answer as one of the API's types.
    func send<Value: Decodable>(_ method: HTTPMethod, _ path: String, body: (any Encodable)? = nil,
                                as type: Value.Type) async throws -> Answer<Value> {
        let data = try await exchange(method, path, body: try body.map { try APIJSON.encoder.encode($0) })
        do {
            return Answer(value: try APIJSON.decoder.decode(type, from: data), body: data)
        } catch {
            throw CLIError("the hub's answer to \(method.rawValue) \(path) is not what this client expects (\(error)); are they the same version?")
        }
    }

    /// The body of a 2xx answer; otherwise the hub's `{"error": …}` message, thrown.
    private func exchange(_ method: HTTPMethod, _ path: String, body: Data?) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + "/api/v1" + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        } catch {
            throw CLIError("cannot reach the hub at \(baseURL): \(error)")
        }
        let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = (try? APIJSON.decoder.decode(ErrorResponse.self, from: data))?.error ?? String(decoding: data, as: UTF8.self)
            if response.status == .unauthorized {
                throw CLIError("\(message) (run `sendense login`)")
            }
            throw CLIError("\(message) (HTTP \(response.status.code))")
        }
        return data
    }
}

/// A typed answer, and its body as the hub sent it (what `--json` prints).
struct Answer<Value: Decodable> {
    let value: Value
    let body: Data

    func printJSON() throws { try sendense.printJSON(try JSONSerialization.jsonObject(with: body)) }
}

extension APIClient {
    /// Streams a GET of `/api/v1<path>` into a new file, piece by piece, under
    /// `<file>.partial` renamed into place once complete. Answers the byte count.
    func download(_ path: String, to file: String) async throws -> Int64 {
        var request = HTTPClientRequest(url: baseURL + "/api/v1" + path)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .hours(24))
        } catch {
            throw CLIError("cannot reach the hub at \(baseURL): \(error)")
        }
        guard response.status == .ok else {
            let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            let message = (try? APIJSON.decoder.decode(ErrorResponse.self, from: data))?.error
            throw CLIError("\(message ?? String(decoding: data, as: UTF8.self)) (HTTP \(response.status.code))")
        }
        let partial = DurableFile.partialPath(of: file)
        guard FileManager.default.createFile(atPath: partial, contents: nil), let handle = FileHandle(forWritingAtPath: partial) else {
            throw CLIError("cannot create \(partial)")
        }
        var written: Int64 = 0
        do {
            for try await piece in response.body {
                try handle.write(contentsOf: piece.readableBytesView)
                written += Int64(piece.readableBytes)
            }
            try handle.synchronize()
            try handle.close()
            try FileManager.default.moveItem(atPath: partial, toPath: file)
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw CLIError("download to \(file) failed: \(error)")
        }
        return written
    }
}

/// Prints JSON the way `--json` promises: pretty, keys sorted.
func printJSON(_ value: Any?) throws {
    guard let value else { return }
    let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}
