@testable import DiskImage
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Data clusters written past the page cache", .removesScratch)
struct DataSinkTests {
    /// A new data file with its sink, and a raw file to write the same bytes to.
    static func sinkAndReference() throws -> (ImageFile, DataSink, RawReference) {
        let folder = scratchFolder()
        let file = try ImageFile(path: folder + "/data", flags: O_RDWR | O_CREAT | O_EXCL)
        return (file, DataSink(path: file.path, buffered: file), RawReference(path: folder + "/reference", size: 0))
    }

    /// Appends of every size from any buffer, a run broken by a jump, an
    /// in-place rewrite of gathered data, an unaligned run: the file must
    /// hold exactly what a plain buffered writer would have written.
    @Test("gathered direct appends, rewrites and unaligned runs read back exactly")
    func sameBytes() throws {
        let (file, sink, reference) = try Self.sinkAndReference()
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

    /// The NBD client hands big reads over on the 4 KiB grid with their
    /// buffer as owner: those are written from where they lie, later, two at
    /// a time, mixed with gathered copies of other appends.
    @Test("aligned data handed over with an owner is written in place, among gathered appends, and let go once written")
    func ownedAppends() throws {
        let (file, sink, reference) = try Self.sinkAndReference()
        var random = SplitMix64(seed: 12)
        var offset: UInt64 = 0
        weak var lastOwner: AlignedBytes?
        for (index, size) in [4 << 20, 65536, 4 << 20, 1 << 20, 131072, 4 << 20, 8192].enumerated() {
            let bytes = random.bytes(size)
            if index % 2 == 0 {
                let owned = AlignedBytes(bytes)
                try sink.append(owned.buffer, at: offset, keepingAlive: owned)
                lastOwner = owned
            } else {
                try bytes.withUnsafeBytes { try sink.append($0, at: offset) }
            }
            reference.write(bytes, at: offset)
            offset += UInt64(size)
        }
        try sink.flush()
        #expect(lastOwner == nil, "the sink still holds data it has written")
        var written = [UInt8](repeating: 0, count: Int(offset))
        try written.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        #expect(written == reference.read(count: Int(offset), at: 0))
    }

    /// A write that fails on the sink's queue must not be lost: the next
    /// append or the flush before the image's tables reports it.
    @Test("a write that fails in the background is reported by flush and by later appends",
          .enabled(if: getuid() == 0, "mounts a 1 MiB tmpfs"))
    func backgroundFailure() throws {
        let folder = scratchFolder()
        let mountPoint = folder + "/small"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        _ = try mustRun(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", mountPoint])
        defer { _ = try? tool(["umount", mountPoint]) }
        let path = mountPoint + "/data"
        let file = try ImageFile(path: path, flags: O_RDWR | O_CREAT | O_EXCL)
        let sink = DataSink(path: path, buffered: file)
        let owned = AlignedBytes([UInt8](repeating: 7, count: 4 << 20))
        try sink.append(owned.buffer, at: 0, keepingAlive: owned)  // more than the filesystem holds
        #expect(throws: DiskImageError.io(path: path, operation: "write", errno: ENOSPC)) { try sink.flush() }
        #expect(throws: DiskImageError.io(path: path, operation: "write", errno: ENOSPC)) {
            try [UInt8](repeating: 1, count: 65536).withUnsafeBytes { try sink.append($0, at: 4 << 20) }
        }
    }
}

/// Bytes in page-aligned memory, as the NBD client gathers big reads.
private final class AlignedBytes: @unchecked Sendable {
    // Unchecked: the memory is written once, here, before anyone shares it.
    let buffer: UnsafeRawBufferPointer

    init(_ bytes: [UInt8]) {
        var memory: UnsafeMutableRawPointer?
        precondition(posix_memalign(&memory, 4096, bytes.count) == 0)
        bytes.withUnsafeBytes { memory!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        buffer = UnsafeRawBufferPointer(start: memory, count: bytes.count)
    }

    deinit { free(UnsafeMutableRawPointer(mutating: buffer.baseAddress)) }
}

@Suite("Raw images written for restores", .removesScratch)
struct RawImageWriterTests {
    @Test("runs at any offset, a size off the 4 KiB grid: qemu-img compare says the file holds what was written; an existing file is never overwritten")
    func sameBytes() throws {
        let folder = scratchFolder()
        let size: UInt64 = (9 << 20) + 1000
        let path = folder + "/restored.raw"
        let writer = try RawImageWriter(path: path, virtualSize: size)
        let reference = RawReference(path: folder + "/reference.raw", size: size)
        var random = SplitMix64(seed: 21)
        for (offset, count) in [(UInt64(0), 5 << 20), (6 << 20, 65536), ((7 << 20) + 100, 3000), (size - 5000, 5000)] {
            let bytes = random.bytes(count)
            try bytes.withUnsafeBytes { try writer.write($0, at: offset) }
            reference.write(bytes, at: offset)
        }
        try writer.finish()
        #expect(try tool(["qemu-img", "compare", "-f", "raw", "-F", "raw", path, reference.path]).status == 0)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64 == size)
        #expect(throws: DiskImageError.self) { try RawImageWriter(path: path, virtualSize: size) }
    }
}
