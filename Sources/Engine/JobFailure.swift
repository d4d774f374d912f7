import DiskImage
import Repository

#if canImport(Glibc)
import Glibc
#endif

/// The words a failed job ends with. A repository that ran out of space
/// says so first, in words an admin acts on; anything else is the error's
/// own description.
public enum JobFailure {
    public static func describe(_ error: any Error) -> String {
        guard isOutOfSpace(error) else { return "\(error)" }
        return "repository full: \(error). Nothing of this job was kept; free space (or let retention remove points) and run it again"
    }

    public static func isOutOfSpace(_ error: any Error) -> Bool {
        switch error {
        case DiskImageError.io(_, _, let code): code == ENOSPC || code == EDQUOT
        case RepositoryError.outOfSpace: true
        default: false
        }
    }
}
