@testable import DiskImage
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Data clusters written past the page cache", .removesScratch)
struct DataSinkTests {
    /// Appends of every size from any buffer, a run broken by a jump, an
    /// in-place rewrite of gathered data, an unaligned run: the file must
    /// hold exactly what a plain buffered writer would have written.
    @Test("gathered direct appends, rewrites and unaligned runs read back exactly")
    func sameBytes() throws {
        let folder = scratchFolder()
        let path = folder + "/data"
        let file = try ImageFile(path: path, flags: O_RDWR | O_CREAT | O_EXCL)
        let sink = DataSink(path: path, buffered: file)
        let reference = RawReference(path: folder + "/reference", size: 0)
        var random = SplitMix64(seed: 11)
        func append(_ count: Int, at offset: UInt64, skip: Int = 0) throws {
            let bytes = random.bytes(count + skip)
            try bytes.withUnsafeBytes { try sink.append(UnsafeRawBufferPointer(rebasing: $0[skip...]), at: offset) }
            reference.write(Array(bytes[skip...]), at: offset)
        }
        var offset: UInt64 = 65536
        for size in [65536, 65536, 3 << 20, 65536, 5 << 20, 131072] {  // crosses the 4 MiB gather size twice
            try append(size, at: offset, skip: size % 3)
            offset += UInt64(size)
        }
        try append(65536, at: offset + (1 << 20))  // a jump starts a new run
        let rewrite = random.bytes(65536)
        try rewrite.withUnsafeBytes { try sink.write($0, at: offset + (1 << 20)) }  // still gathered: flushed first
        reference.write(rewrite, at: offset + (1 << 20))
        try append(1536, at: (offset + (2 << 20)) + 512)  // off the 4 KiB grid: buffered
        try sink.flush()
        let size = Int((offset + (2 << 20)) + 2048)
        var written = [UInt8](repeating: 0, count: size)
        try written.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        #expect(written == reference.read(count: size, at: 0))
    }
}
