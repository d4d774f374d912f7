import Foundation

/// `<repo>/repository.json`: what makes a folder a Sendense repository. Its
/// id survives the hub's catalog, so a rebuilt catalog finds the same
/// repository again.
public struct RepositoryDescriptor: Codable, Equatable, Sendable {
    public static let fileName = "repository.json"
    public static let currentFormatVersion = 1

    public var id: String
    public var formatVersion: Int
    public var created: Date

    public init(id: String = UUID().uuidString.lowercased(), formatVersion: Int = currentFormatVersion, created: Date = Date()) {
        self.id = id
        self.formatVersion = formatVersion
        // Whole seconds: the file stores ISO 8601 without fractions, and a
        // descriptor must read back equal to the one written.
        self.created = Date(timeIntervalSince1970: created.timeIntervalSince1970.rounded(.down))
    }

    enum CodingKeys: String, CodingKey {
        case id
        case formatVersion = "format_version"
        case created
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
