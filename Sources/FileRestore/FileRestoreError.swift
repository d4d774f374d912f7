/// Why a restore session cannot open a disk or answer for a path, in words a
/// user can act on. The hub maps each case to an HTTP status.
public enum FileRestoreError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The path itself is not acceptable (`..`, NUL, not absolute, too long).
    case invalidPath(String)
    case notFound(path: String)
    case notADirectory(path: String)
    case isADirectory(path: String)
    /// Symbolic links are listed but never followed.
    case symbolicLink(path: String, target: String)
    /// The disk has no partition table or filesystem libtsk can read.
    case noFilesystem(reason: String)
    /// A partition whose filesystem libtsk cannot read.
    case unsupportedFilesystem(partition: String, reason: String)
    /// libtsk failed on data it should read: a damaged or hostile filesystem.
    case unreadable(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidPath(let reason): "invalid path: \(reason)"
        case .notFound(let path): "not found in the backup: \(path)"
        case .notADirectory(let path): "not a folder: \(path)"
        case .isADirectory(let path): "\(path) is a folder; download it as zip or tar.gz"
        case .symbolicLink(let path, let target): "\(path) is a symbolic link to \(target); links are not followed, open the target instead"
        case .noFilesystem(let reason): "no partition table or filesystem Sendense can read was found on this disk (\(reason))"
        case .unsupportedFilesystem(let partition, let reason): "\(partition) holds no filesystem Sendense can read (\(reason))"
        case .unreadable(let path, let reason):
            "cannot read \(path): \(reason); the filesystem in the backup may be damaged (POST /backups/{id}/verify checks the stored data)"
        }
    }
}
