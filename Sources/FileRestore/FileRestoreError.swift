/// Why a restore session cannot open a disk or answer for a path, in words a
/// user can act on. The hub maps each case to an HTTP status.
public enum FileRestoreError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    /// The path itself is not acceptable (`..`, NUL, not absolute, too long).
    case invalidPath(String)
    case notFound(path: String)
    case notADirectory(path: String)
    case isADirectory(path: String)
    /// Symbolic links are listed but never followed.
    case symbolicLink(path: String, target: String)
    /// The restore point's image files cannot be opened or are damaged.
    case imageUnreadable(reason: String)
    /// The disk has no partition table or filesystem libtsk can read.
    case noFilesystem(reason: String)
    /// A partition whose filesystem libtsk cannot read.
    case unsupportedFilesystem(partition: String, reason: String)
    /// libtsk failed on data it should read: a damaged or hostile filesystem.
    case unreadable(path: String, reason: String)
    /// The worker process reading the disk died or broke its protocol (a
    /// crash on hostile data, a kill); the next request starts a new one.
    case workerFailed(reason: String)
    /// The worker did not answer within its time; it was stopped.
    case workerTimedOut(seconds: Int)

    public var description: String {
        switch self {
        case .invalidPath(let reason): "invalid path: \(reason)"
        case .notFound(let path): "not found in the backup: \(path)"
        case .notADirectory(let path): "not a folder: \(path)"
        case .isADirectory(let path): "\(path) is a folder; download it as zip or tar.gz"
        case .symbolicLink(let path, let target): "\(path) is a symbolic link to \(target); links are not followed, open the target instead"
        case .imageUnreadable(let reason): "cannot open the restore point's image: \(reason)"
        case .noFilesystem(let reason): "no partition table or filesystem Sendense can read was found on this disk (\(reason))"
        case .unsupportedFilesystem(let partition, let reason): "\(partition) holds no filesystem Sendense can read (\(reason))"
        case .unreadable(let path, let reason):
            "cannot read \(path): \(reason); the filesystem in the backup may be damaged (POST /backups/{id}/verify checks the stored data)"
        case .workerFailed(let reason):
            "the file-restore worker reading this disk stopped (\(reason)); the filesystem may be damaged or hostile. Other sessions are unaffected; the next request starts a new worker"
        case .workerTimedOut(let seconds):
            "the file-restore worker did not answer within \(seconds) s and was stopped; the next request starts a new worker"
        }
    }
}
