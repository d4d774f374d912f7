import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Writes that survive a crash: data goes to a temporary file in the same
/// folder, is fsynced, renamed over the target, and the folder is fsynced so
/// the rename itself is on disk. A reader sees the old file or the new one,
/// never a torn one.
public enum DurableFile {
    /// Where a large file (a restored disk) is written before it is renamed
    /// to `target` once complete: a reader never takes it for the whole file.
    public static func partialPath(of target: String) -> String { target + ".partial" }

    public static func write(_ data: Data, to path: String, mode: FilePermissions = [.ownerReadWrite, .groupRead, .otherRead]) throws {
        let target = FilePath(path)
        let directory = target.removingLastComponent()
        let temporary = directory.appending(".\(target.lastComponent?.string ?? "file").tmp-\(UInt64.random(in: 0...UInt64.max))")
        do {
            let fd = try FileDescriptor.open(temporary, .writeOnly, options: [.create, .exclusiveCreate], permissions: mode)
            try fd.closeAfter {
                _ = try fd.writeAll(data)
                try fsyncOrThrow(fd, path: temporary.string)
            }
            try renameOrThrow(from: temporary.string, to: path)
        } catch let error as Errno where error == .noSpace || error == .diskQuotaExceeded {
            _ = unlink(temporary.string)
            throw RepositoryError.outOfSpace(path: path)
        } catch {
            _ = unlink(temporary.string)
            throw error
        }
        try syncDirectory(directory.string)
    }

    /// fsyncs a directory so that entries created, renamed or removed in it
    /// are durable.
    public static func syncDirectory(_ path: String) throws {
        let fd = try FileDescriptor.open(FilePath(path), .readOnly, options: [.directory])
        try fd.closeAfter { try fsyncOrThrow(fd, path: path) }
    }

    static func fsyncOrThrow(_ fd: FileDescriptor, path: String) throws {
        // swift-system has no fsync; call the C function.
        if fsync(fd.rawValue) != 0 {
            // Delayed allocation: a full filesystem may only say so here.
            if errno == ENOSPC || errno == EDQUOT { throw RepositoryError.outOfSpace(path: path) }
            throw RepositoryError.io("fsync of \(path) failed: \(String(cString: strerror(errno)))")
        }
    }

    public static func renameOrThrow(from: String, to: String) throws {
        if rename(from, to) != 0 {
            throw RepositoryError.io("rename of \(from) to \(to) failed: \(String(cString: strerror(errno)))")
        }
    }
}
