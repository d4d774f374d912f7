/// Why a repository could not be created, reached or removed, in words an
/// admin can act on.
public enum RepositoryError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidPath(String)
    case notWritable(path: String, reason: String)
    case overlapsRepository(path: String, other: String)
    case foreignRepository(path: String, reason: String)
    case mountFailed(String)
    case unmountFailed(String)
    case io(String)
    /// The filesystem holding the repository (or the data dir) has no room left.
    case outOfSpace(path: String)
    /// A backup's manifest.json that is not one this hub wrote: damaged or tampered with.
    case invalidManifest(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidPath(let message): message
        case .notWritable(let path, let reason): "repository path \(path) is not writable: \(reason)"
        case .overlapsRepository(let path, let other):
            "repository path \(path) overlaps the existing repository at \(other); repositories must not nest"
        case .foreignRepository(let path, let reason): "\(path) cannot be used as a repository: \(reason)"
        case .mountFailed(let message): message
        case .unmountFailed(let message): message
        case .io(let message): message
        case .outOfSpace(let path): "no space left to write \(path)"
        case .invalidManifest(let path, let reason): "\(path) is damaged: \(reason)"
        }
    }
}
