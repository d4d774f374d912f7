import Foundation
import SendenseCore

/// The hub's data dir and what it holds: the catalog, the secret key, the
/// first admin's password, the default repository, share mount points and
/// the sockets of the NBD servers jobs start.
public struct DataDirectory: Sendable {
    public let path: String

    public init(_ path: String) { self.path = path }

    /// Makes `path` absolute and private (0700), creating it when missing:
    /// it holds the catalog, the secret key and the admin password.
    public static func prepare(_ path: String) throws -> DataDirectory {
        let absolute = path.isAbsolutePath ? path : FileManager.default.currentDirectoryPath + "/" + path
        let normalized = URL(fileURLWithPath: absolute).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: normalized, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return DataDirectory(normalized)
    }

    public var catalogPath: String { path + "/catalog.sqlite" }
    public var secretKeyPath: String { path + "/secret.key" }
    public var adminPasswordPath: String { path + "/admin-password" }
    public var defaultRepositoryPath: String { path + "/repository" }
    public var mountsDirectory: String { path + "/mounts" }
    /// Sockets of the NBD servers jobs start; emptied at every start.
    public var runDirectory: String { path + "/run" }
}
