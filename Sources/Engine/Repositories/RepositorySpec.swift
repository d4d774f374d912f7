import SendenseCore

/// A repository to create, as an admin describes it.
public struct RepositorySpec: Sendable {
    public var name: String
    public var type: RepositoryKind
    /// Local repositories: the folder.
    public var path: String?
    public var nfsServer: String?
    public var nfsExport: String?
    /// `//server/share`.
    public var cifsShare: String?
    public var username: String?
    /// Sealed by `SecretBox` before it is stored.
    public var password: String?
    public var mountOptions: String?
    public var immutable: Bool?
    /// Restore points younger than this cannot be deleted or merged.
    public var immutableDays: Int?

    public init(name: String, type: RepositoryKind, path: String? = nil, nfsServer: String? = nil, nfsExport: String? = nil,
                cifsShare: String? = nil, username: String? = nil, password: String? = nil, mountOptions: String? = nil,
                immutable: Bool? = nil, immutableDays: Int? = nil) {
        self.name = name
        self.type = type
        self.path = path
        self.nfsServer = nfsServer
        self.nfsExport = nfsExport
        self.cifsShare = cifsShare
        self.username = username
        self.password = password
        self.mountOptions = mountOptions
        self.immutable = immutable
        self.immutableDays = immutableDays
    }
}

/// Why a repository cannot be created as described.
public enum RepositoryRequestError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A field is missing or out of its range.
    case invalid(String)
    case nameTaken(String)
    /// The path is the hub's own (its data dir, catalog or mount points).
    case reserved(String)

    public var description: String {
        switch self {
        case .invalid(let message), .reserved(let message): message
        case .nameTaken(let name): "a repository named \(name) already exists"
        }
    }
}
