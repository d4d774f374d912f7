import Foundation

/// The two header fields an incremental of a qcow2 image needs before
/// qemu-nbd opens it (qemu docs/interop/qcow2.txt): the magic, which says
/// it still is one, and the virtual size. The image itself is read only
/// through qemu-nbd.
enum QCOW2Probe {
    /// nil when the file cannot be read or is not qcow2.
    static func virtualSize(ofImageAt path: String) -> UInt64? {
        guard let file = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? file.close() }
        guard let header = try? file.read(upToCount: 32), header.count == 32 else { return nil }
        func bigEndian(_ offset: Int, _ count: Int) -> UInt64 {
            header[offset..<offset + count].reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard bigEndian(0, 4) == 0x5146_49fb else { return nil }  // "QFI\xfb"
        return bigEndian(24, 8)
    }
}
