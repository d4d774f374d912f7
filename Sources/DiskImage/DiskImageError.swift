/// Why an image cannot be read or written, in words that name the file.
public enum DiskImageError: Error, Equatable, Sendable, CustomStringConvertible {
    case io(path: String, operation: String, errno: Int32)
    case notAnImage(path: String, reason: String)
    case unsupported(path: String, feature: String)
    case corrupt(path: String, reason: String)
    case outOfRange(path: String, offset: UInt64, length: Int, size: UInt64)
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            "\(operation) of \(path) failed: \(String(cString: strerror(code)))"
        case .notAnImage(let path, let reason): "\(path) is not a disk image Sendense can read: \(reason)"
        case .unsupported(let path, let feature): "\(path) uses \(feature), which Sendense does not support"
        case .corrupt(let path, let reason): "\(path) is damaged: \(reason)"
        case .outOfRange(let path, let offset, let length, let size):
            "read of \(length) bytes at \(offset) is past the end of \(path) (virtual size \(size))"
        case .invalidArgument(let message): message
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
