import Foundation
import SendenseCore

/// The API's JSON, for the hub and its clients alike: snake_case keys (every
/// type the API sends names its keys in its CodingKeys: no key strategy, whose
/// conversion of every key of every item doubled the time a long list took to
/// encode), ISO 8601 UTC timestamps with whole seconds.
public enum APIJSON {
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    /// Keys as the types name them, so an error quotes the field the sender wrote.
    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an ISO 8601 timestamp such as 2025-10-08T19:24:31Z")
            }
            return date
        }
        return decoder
    }()
}

extension KeyedDecodingContainer {
    /// A repository id sent as a string (`"1"`, as responses write ids) or a number.
    public func decodeRepositoryIDIfPresent(forKey key: Key) throws -> Int64? {
        guard let text = try? decodeIfPresent(String.self, forKey: key) else { return try decodeIfPresent(Int64.self, forKey: key) }
        guard let id = Int64(text) else {
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "expected a repository id such as \"1\"")
        }
        return id
    }
}

/// Every answer that is not 2xx: `{"error": "…"}`.
public struct ErrorResponse: Codable, Sendable {
    public var error: String

    public init(error: String) { self.error = error }
}
