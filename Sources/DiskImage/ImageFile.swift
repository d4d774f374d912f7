#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor with whole-buffer positional reads and writes. pread and
/// pwrite keep no shared file position, so one descriptor serves concurrent
/// readers safely.
public final class ImageFile: Sendable {
    public let path: String
    let fd: Int32

    public init(path: String, flags: Int32, mode: mode_t = 0o644) throws {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw DiskImageError.io(path: path, operation: "open", errno: errno) }
        self.path = path
        self.fd = fd
    }

    deinit { close(fd) }

    var size: UInt64 {
        get throws {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw DiskImageError.io(path: path, operation: "stat", errno: errno) }
            return UInt64(info.st_size)
        }
    }

    var isRegular: Bool {
        get throws {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw DiskImageError.io(path: path, operation: "stat", errno: errno) }
            return info.st_mode & S_IFMT == S_IFREG
        }
    }

    /// Reads exactly `buffer.count` bytes at `offset`; a file that ends
    /// first is damaged (the caller asked for metadata or data it points to).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = pread(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw DiskImageError.io(path: path, operation: "read", errno: errno)
            }
            if n == 0 {
                throw DiskImageError.corrupt(path: path, reason: "the file ends at \(offset + UInt64(done)) but \(buffer.count - done) more bytes were expected there")
            }
            done += n
        }
    }

    func read(count: Int, at offset: UInt64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { (buffer) in try read(into: buffer, at: offset) }
        return bytes
    }

    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws {
        guard let base = buffer.baseAddress else { return }
        var done = 0
        while done < buffer.count {
            let n = pwrite(fd, base + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw DiskImageError.io(path: path, operation: "write", errno: errno)
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: UInt64) throws {
        try bytes.withUnsafeBytes { (buffer) in try write(buffer, at: offset) }
    }

    public func truncate(to size: UInt64) throws {
        guard ftruncate(fd, off_t(size)) == 0 else { throw DiskImageError.io(path: path, operation: "truncate", errno: errno) }
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw DiskImageError.io(path: path, operation: "fsync", errno: errno) }
    }
}
