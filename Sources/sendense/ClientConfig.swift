import Foundation

/// Where the CLI keeps the hub URL and token between runs:
/// `$SENDENSE_CONFIG_DIR` or `$XDG_CONFIG_HOME/sendense` or
/// `~/.config/sendense`, file `config.json`, mode 0600.
struct ClientConfig: Codable {
    var url: String
    var token: String?
    var username: String?
    var expiresAt: String?

    enum CodingKeys: String, CodingKey {
        case url, token, username
        case expiresAt = "expires_at"
    }

    static var directory: String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["SENDENSE_CONFIG_DIR"], !explicit.isEmpty { return explicit }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/sendense" }
        return FileManager.default.homeDirectoryForCurrentUser.path + "/.config/sendense"
    }

    static var path: String { directory + "/config.json" }

    static func load() -> ClientConfig? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(ClientConfig.self, from: data)
    }

    func save() throws {
        try FileManager.default.createDirectory(atPath: Self.directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        guard FileManager.default.createFile(atPath: Self.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write \(Self.path)")
        }
        // An existing file keeps its old mode through createFile: the token is private.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: Self.path)
    }

    static func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
