#if canImport(Glibc)
import Glibc
#endif

/// Space on the filesystem that holds a repository, from statvfs.
public struct StorageCapacity: Equatable, Sendable {
    public var totalBytes: Int64
    public var availableBytes: Int64
    public var usedBytes: Int64

    public init(totalBytes: Int64, availableBytes: Int64, usedBytes: Int64) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.usedBytes = usedBytes
    }

    public static func of(path: String) throws(RepositoryError) -> StorageCapacity {
        var stats = statvfs()
        guard statvfs(path, &stats) == 0 else {
            throw .io("cannot read capacity of \(path): \(String(cString: strerror(errno)))")
        }
        let unit = Int64(stats.f_frsize)
        let total = Int64(stats.f_blocks) * unit
        // f_bavail: what an unprivileged writer may still use, which is what
        // backups will get; used counts every block not free.
        let available = Int64(stats.f_bavail) * unit
        let used = total - Int64(stats.f_bfree) * unit
        return StorageCapacity(totalBytes: total, availableBytes: available, usedBytes: used)
    }
}
