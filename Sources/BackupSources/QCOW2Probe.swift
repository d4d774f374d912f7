import Foundation

/// The header fields read before qemu-nbd or qemu-img open an image (qemu
/// docs/interop/qcow2.txt): the magic, which says it still is one, the
/// virtual size an incremental needs, and whether it may hold bitmaps. The
/// image itself is read only through qemu's tools.
enum QCOW2Probe {
    /// nil when the file cannot be read or is not qcow2.
    static func virtualSize(ofImageAt path: String) -> UInt64? {
        guard let header = header(of: path, count: 32) else { return nil }
        return header.bigEndian(24, 8)
    }

    /// False when the file cannot be read, is not qcow2, or has no consistent
    /// bitmaps (version 3 with autoclear bit 0, "bitmaps extension"): qemu-img
    /// need not be asked for them. Spares a hub start one `qemu-img info` per
    /// disk that has none.
    static func mayHaveBitmaps(_ path: String) -> Bool {
        guard let header = header(of: path, count: 96) else { return false }
        return header.bigEndian(4, 4) >= 3 && header.bigEndian(88, 8) & 1 == 1
    }

    private struct Header {
        var bytes: [UInt8]
        func bigEndian(_ offset: Int, _ count: Int) -> UInt64 {
            bytes[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
        }
    }

    /// The first `count` bytes of a regular qcow2 file. Opened without
    /// blocking: a FIFO put where an image was must not hold the caller.
    private static func header(of path: String, count: Int) -> Header? {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        var bytes = [UInt8](repeating: 0, count: count)
        guard pread(fd, &bytes, count, 0) == count else { return nil }
        let header = Header(bytes: bytes)
        return header.bigEndian(0, 4) == 0x5146_49fb ? header : nil  // "QFI\xfb"
    }
}
