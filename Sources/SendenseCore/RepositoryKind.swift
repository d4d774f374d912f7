/// Where a repository keeps its files.
public enum RepositoryKind: String, Codable, Sendable, CaseIterable {
    /// A folder on the hub's own filesystem.
    case local
    /// An NFS export the hub mounts under its data dir.
    case nfs
    /// An SMB/CIFS share the hub mounts under its data dir.
    case cifs
}
