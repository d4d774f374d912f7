import DiskImage
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("QCOW2 reader on images QEMU wrote", .removesScratch)
struct QCOW2ReaderTests {
    /// Reads the whole image through `DiskImages.open` and compares it with
    /// `qemu-img convert -O raw`; every run our extents call zero must be
    /// zero in QEMU's reading too.
    static func expectReadsLikeQEMU(_ image: String) throws {
        let raw = image + ".expected.raw"
        try mustRun(["qemu-img", "convert", "-O", "raw", image, raw])
        let ours = try DiskImages.open(path: image, backingsWithin: nil)
        let expected = RawReference(existing: raw)
        let info = try tool(["qemu-img", "info", "--output=json", image])
        let size = (try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any])?["virtual-size"] as? Int
        #expect(UInt64(size ?? -1) == ours.virtualSize)
        var offset: UInt64 = 0
        let chunk: UInt64 = 3 << 20
        while offset < ours.virtualSize {
            let count = Int(min(chunk, ours.virtualSize - offset))
            #expect(try ours.read(count: count, at: offset) == expected.read(count: count, at: offset), "\(image) differs in [\(offset), +\(count))")
            offset += UInt64(count)
        }
        let extents = try ours.extents()
        #expect(extents.first?.offset == 0)
        #expect(extents.last?.end == ours.virtualSize)
        for extent in extents where extent.kind == .zero {
            var position = extent.offset
            while position < extent.end {
                let count = Int(min(chunk, extent.end - position))
                #expect(expected.read(count: count, at: position).allSatisfy { $0 == 0 }, "\(extent) is not zero")
                position += UInt64(count)
            }
        }
    }

    /// An image with data patterns, zeroed and discarded ranges.
    static func makePatterned(_ path: String, options: String, size: String = "20M") throws {
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-o", options, path, size])
        try mustRun(["qemu-io", "-f", "qcow2",
                     "-c", "write -P 0x11 0 3M",
                     "-c", "write -P 0x22 5M 1536k",
                     "-c", "write -P 0x33 7777k 12k",
                     "-c", "write -z 1M 512k",
                     "-c", "discard 2M 256k",
                     "-c", "write -P 0x44 15M 1M",
                     path])
    }

    @Test("cluster sizes and versions", arguments: [
        "cluster_size=65536", "cluster_size=4096", "cluster_size=2M", "cluster_size=512", "compat=0.10",
    ])
    func patterned(options: String) throws {
        let folder = scratchFolder()
        try Self.makePatterned(folder + "/p.qcow2", options: options)
        try Self.expectReadsLikeQEMU(folder + "/p.qcow2")
    }

    @Test("compressed clusters", arguments: ["zlib", "zstd"])
    func compressed(type: String) throws {
        let folder = scratchFolder()
        try Self.makePatterned(folder + "/p.qcow2", options: "cluster_size=65536")
        // Text-like data compresses to varied lengths, some across cluster ends.
        var random = SplitMix64(seed: 9)
        let text = (0..<(4 << 20)).map { _ in UInt8(ascii: "a") + UInt8(random.next() % 8) }
        try Data(text).write(to: URL(fileURLWithPath: folder + "/text.raw"))
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x55 9M 1M", folder + "/p.qcow2"])
        try mustRun(["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=\(type)", folder + "/p.qcow2", folder + "/c.qcow2"])
        try Self.expectReadsLikeQEMU(folder + "/c.qcow2")
        try mustRun(["qemu-img", "convert", "-c", "-O", "qcow2", "-o", "compression_type=\(type)", "-f", "raw", folder + "/text.raw", folder + "/t.qcow2"])
        try Self.expectReadsLikeQEMU(folder + "/t.qcow2")
    }

    @Test("backing chains of qcow2 and raw, with a shorter backing file")
    func chains() throws {
        let folder = scratchFolder()
        try Self.makePatterned(folder + "/base.qcow2", options: "cluster_size=65536", size: "16M")
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", folder + "/mid.qcow2", "20M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x66 2M 1M", "-c", "write -z 5M 64k", "-c", "write -P 0x77 17M 64k", folder + "/mid.qcow2"])
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-b", folder + "/mid.qcow2", "-F", "qcow2", folder + "/top.qcow2", "20M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x88 5M 32k", "-c", "discard 0 64k", folder + "/top.qcow2"])
        try Self.expectReadsLikeQEMU(folder + "/top.qcow2")

        try mustRun(["qemu-img", "create", "-q", "-f", "raw", folder + "/disk.raw", "4M"])
        try mustRun(["qemu-io", "-f", "raw", "-c", "write -P 0x99 1M 1M", folder + "/disk.raw"])
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "disk.raw", "-F", "raw", folder + "/over-raw.qcow2", "4M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0xaa 3M 64k", folder + "/over-raw.qcow2"])
        try Self.expectReadsLikeQEMU(folder + "/over-raw.qcow2")
    }

    @Test("damaged images give clean errors, never a crash")
    func damaged() throws {
        let folder = scratchFolder()
        try Self.makePatterned(folder + "/good.qcow2", options: "cluster_size=65536")
        let good = try Data(contentsOf: URL(fileURLWithPath: folder + "/good.qcow2"))

        func variant(_ name: String, _ change: (inout Data) -> Void) throws -> String {
            var data = good
            change(&data)
            let path = folder + "/" + name
            try data.write(to: URL(fileURLWithPath: path))
            return path
        }
        func putBE64(_ data: inout Data, _ value: UInt64, at offset: Int) {
            withUnsafeBytes(of: value.bigEndian) { data.replaceSubrange(offset..<(offset + 8), with: $0) }
        }
        func putBE32(_ data: inout Data, _ value: UInt32, at offset: Int) {
            withUnsafeBytes(of: value.bigEndian) { data.replaceSubrange(offset..<(offset + 4), with: $0) }
        }
        let cases = [
            try variant("truncated", { $0 = $0.prefix(50) }),
            try variant("version", { putBE32(&$0, 9, at: 4) }),
            try variant("cluster-bits", { putBE32(&$0, 40, at: 20) }),
            try variant("l1-past-end", { putBE64(&$0, 1 << 40, at: 40) }),
            try variant("l1-too-small", { putBE32(&$0, 0, at: 36) }),
            try variant("encrypted", { putBE32(&$0, 1, at: 32) }),
            try variant("unknown-feature", { putBE64(&$0, 1 << 40, at: 72) }),
            // Values whose arithmetic overflowed (a trap, which would take the hub down) before.
            try variant("size-max", { putBE64(&$0, .max, at: 24) }),
            try variant("backing-offset-max", { putBE64(&$0, .max, at: 8); putBE32(&$0, 8, at: 16) }),
            try variant("l1-offset-max", { putBE64(&$0, .max & ~0xFFFF, at: 40) }),
        ]
        for path in cases {
            #expect(throws: DiskImageError.self, "\(path)") { _ = try QCOW2Image(path: path, backingsWithin: nil) }
        }
        // An L2 table pointer past the end of the file is found on read.
        let l1Offset = good.withUnsafeBytes { UInt64(bigEndian: $0.loadUnaligned(fromByteOffset: 40, as: UInt64.self)) }
        let badL2 = try variant("l2-past-end", { putBE64(&$0, (1 << 40) | (1 << 63), at: Int(l1Offset)) })
        let image = try QCOW2Image(path: badL2, backingsWithin: nil)
        #expect(throws: DiskImageError.self) { _ = try image.read(count: 4096, at: 0) }
        #expect(throws: DiskImageError.self) { _ = try image.extents() }
        // Reads past the end are refused.
        let ok = try QCOW2Image(path: folder + "/good.qcow2", backingsWithin: nil)
        #expect(throws: DiskImageError.self) { _ = try ok.read(count: 2, at: ok.virtualSize - 1) }
    }

    @Test("a backing chain that loops is refused")
    func loop() throws {
        let folder = scratchFolder()
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", folder + "/a.qcow2", "1M"])
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", folder + "/b.qcow2", "1M"])
        // Point a at b: qemu-img refuses to make a loop, so edit the header.
        try mustRun(["qemu-img", "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", folder + "/a.qcow2"])
        do {
            _ = try DiskImages.open(path: folder + "/b.qcow2", backingsWithin: nil)
            Issue.record("a looping chain was opened")
        } catch let error as DiskImageError {
            #expect(error.description.contains("loops"))
        }
    }

    @Test("backing files outside the chain's folder are refused, symbolic links resolved; a FIFO is no image")
    func confined() throws {
        let folder = scratchFolder()
        let vm = folder + "/repo/vms/web"
        try FileManager.default.createDirectory(atPath: vm + "/b1", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: vm + "/b2", withIntermediateDirectories: true)
        let secret = folder + "/secret.raw"
        try Data(repeating: 0x5A, count: 1 << 20).write(to: URL(fileURLWithPath: secret))
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", vm + "/b1/disk-0.qcow2", "1M"])
        try FileManager.default.createSymbolicLink(atPath: vm + "/b1/link.raw", withDestinationPath: secret)
        let top = vm + "/b2/disk-0.qcow2"
        for backing in ["../b1/disk-0.qcow2", "../../../../secret.raw", secret, "../b1/link.raw"] {
            try? FileManager.default.removeItem(atPath: top)
            let format = backing.hasSuffix(".raw") ? "raw" : "qcow2"
            try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", format, top, "1M"])
            // Without a folder the reader follows the header (how tests and tools use it).
            #expect(try DiskImages.open(path: top, backingsWithin: nil).read(count: 1, at: 0) == [backing == "../b1/disk-0.qcow2" ? 0 : 0x5A])
            if backing == "../b1/disk-0.qcow2" {
                #expect(try DiskImages.open(path: top, backingsWithin: vm).read(count: 1, at: 0) == [0])
                continue
            }
            do {
                _ = try DiskImages.open(path: top, backingsWithin: vm)
                Issue.record("backing file \(backing) outside \(vm) was opened")
            } catch let error as DiskImageError {
                #expect(error.description.contains("outside"), "\(error)")
            }
        }
        #expect(mkfifo(vm + "/b1/fifo.qcow2", 0o644) == 0)
        #expect(throws: DiskImageError.notAnImage(path: vm + "/b1/fifo.qcow2", reason: "not a regular file")) {
            _ = try DiskImages.open(path: vm + "/b1/fifo.qcow2", backingsWithin: vm)
        }
    }
}
