import DiskImage
import Foundation
import TestSupport
import Testing

@Suite("QCOW2 writer, judged by qemu-img", .removesScratch)
struct QCOW2WriterTests {
    /// `qemu-img check` must find no errors and no leaks.
    static func expectClean(_ image: String) throws {
        let check = try tool(["qemu-img", "check", "-f", "qcow2", image])
        #expect(check.status == 0, "qemu-img check \(image): \(check.output)")
        #expect(check.output.contains("No errors were found"), "\(check.output)")
    }

    static func expectSame(_ image: String, _ raw: String) throws {
        let compare = try tool(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", image, raw])
        #expect(compare.status == 0, "qemu-img compare: \(compare.output)")
    }

    @Test("random writes, rewrites and zeroes read back as the same bytes", arguments: [
        (UInt64(1), 65536), (UInt64(2), 65536), (UInt64(3), 4096), (UInt64(4), 2 << 20),
    ])
    func randomPattern(seed: UInt64, clusterSize: Int) throws {
        let folder = scratchFolder()
        var random = SplitMix64(seed: seed)
        // Not a whole number of clusters: the last cluster is short.
        let size = UInt64(clusterSize) * (clusterSize >= 1 << 20 ? 40 : 300) + 3 * 512
        let reference = RawReference(path: folder + "/ref.raw", size: size)
        let writer = try QCOW2Writer(path: folder + "/disk.qcow2", virtualSize: size, clusterSize: clusterSize)
        let clusters = writer.clusterCount
        for _ in 0..<120 {
            let first = UInt64.random(in: 0..<clusters, using: &random)
            let count = min(UInt64.random(in: 1...6, using: &random), clusters - first)
            let length = Int((first + count - 1) * UInt64(clusterSize)) + writer.length(ofCluster: first + count - 1)
                - Int(first * UInt64(clusterSize))
            if Int.random(in: 0..<4, using: &random) == 0 {
                try writer.writeZeroes(firstCluster: first, count: count)
                reference.write([UInt8](repeating: 0, count: length), at: first * UInt64(clusterSize))
            } else {
                let bytes = random.bytes(length)
                try bytes.withUnsafeBytes { try writer.write(firstCluster: first, $0) }
                reference.write(bytes, at: first * UInt64(clusterSize))
            }
        }
        try writer.finish()
        try Self.expectClean(folder + "/disk.qcow2")
        try Self.expectSame(folder + "/disk.qcow2", folder + "/ref.raw")

        // Our own reader agrees, at odd offsets too.
        let image = try QCOW2Image(path: folder + "/disk.qcow2", backingsWithin: nil)
        #expect(image.virtualSize == size)
        for _ in 0..<50 {
            let offset = UInt64.random(in: 0..<size, using: &random)
            let count = Int(min(UInt64.random(in: 1...(3 * UInt64(clusterSize)), using: &random), size - offset))
            #expect(try image.read(count: count, at: offset) == reference.read(count: count, at: offset))
        }
    }

    @Test("an incremental's zero clusters hide the parent's data; the chain is what qemu-img sees")
    func incrementalOverParent() throws {
        let folder = scratchFolder()
        var random = SplitMix64(seed: 42)
        let size: UInt64 = 8 << 20
        let cluster = 65536
        let reference = RawReference(path: folder + "/ref.raw", size: size)
        let base = try QCOW2Writer(path: folder + "/base.qcow2", virtualSize: size)
        let full = random.bytes(Int(size))
        try full.withUnsafeBytes { try base.write(firstCluster: 0, $0) }
        reference.write(full, at: 0)
        try base.finish()

        let top = try QCOW2Writer(path: folder + "/top.qcow2", virtualSize: size, backingFile: "base.qcow2")
        try top.writeZeroes(firstCluster: 10, count: 5)
        reference.write([UInt8](repeating: 0, count: 5 * cluster), at: 10 * UInt64(cluster))
        let changed = random.bytes(3 * cluster)
        try changed.withUnsafeBytes { try top.write(firstCluster: 40, $0) }
        reference.write(changed, at: 40 * UInt64(cluster))
        try top.finish()
        #expect(top.dataBytesWritten == UInt64(3 * cluster))

        try Self.expectClean(folder + "/top.qcow2")
        try Self.expectSame(folder + "/top.qcow2", folder + "/ref.raw")
        let info = try tool(["qemu-img", "info", "--backing-chain", "--output=json", folder + "/top.qcow2"])
        let chain = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [[String: Any]]
        #expect(chain?.count == 2)
        #expect(chain?.first?["backing-filename"] as? String == "base.qcow2")
        #expect(chain?.first?["backing-filename-format"] as? String == "qcow2")

        let image = try QCOW2Image(path: folder + "/top.qcow2", backingsWithin: nil)
        #expect(try image.read(count: 5 * cluster, at: 10 * UInt64(cluster)) == [UInt8](repeating: 0, count: 5 * cluster))
        #expect(try image.read(count: Int(size), at: 0) == reference.read(count: Int(size), at: 0))
        // The incremental holds only what changed.
        let fileSize = try FileManager.default.attributesOfItem(atPath: folder + "/top.qcow2")[.size] as? Int ?? 0
        // Header, 3 data clusters, one L2 table, L1, a refcount block and table.
        #expect(fileSize == 8 * cluster)
    }

    @Test("an empty image is valid and reads as zeros")
    func emptyImage() throws {
        let folder = scratchFolder()
        let writer = try QCOW2Writer(path: folder + "/empty.qcow2", virtualSize: 1 << 30)
        try writer.finish()
        try Self.expectClean(folder + "/empty.qcow2")
        let image = try QCOW2Image(path: folder + "/empty.qcow2", backingsWithin: nil)
        #expect(try image.extents() == [ImageExtent(offset: 0, length: 1 << 30, kind: .zero)])
    }

    @Test("a large sparse disk: tables far apart, refcounts over several blocks")
    func largeSparse() throws {
        let folder = scratchFolder()
        let size: UInt64 = 3 << 40  // 3 TiB virtual
        let writer = try QCOW2Writer(path: folder + "/big.qcow2", virtualSize: size, clusterSize: 512 * 8)
        var random = SplitMix64(seed: 7)
        let reference = RawReference(path: folder + "/ref.raw", size: 64 << 20)
        // 40,000 clusters: more than one refcount block (2,048 clusters each at 4 KiB).
        let bytes = random.bytes(40000 * 4096)
        try bytes.withUnsafeBytes { try writer.write(firstCluster: 0, $0) }
        reference.write(bytes, at: 0)
        let far = random.bytes(4096)
        try far.withUnsafeBytes { try writer.write(firstCluster: (size / 4096) - 1, $0) }
        try writer.finish()
        try Self.expectClean(folder + "/big.qcow2")
        let image = try QCOW2Image(path: folder + "/big.qcow2", backingsWithin: nil)
        #expect(try image.read(count: 4096, at: size - 4096) == far)
        #expect(try image.read(count: 1 << 20, at: 0) == reference.read(count: 1 << 20, at: 0))
        let extents = try image.extents()
        #expect(extents.first == ImageExtent(offset: 0, length: 40000 * 4096, kind: .data))
        #expect(extents.last == ImageExtent(offset: size - 4096, length: 4096, kind: .data))
    }

    @Test("misuse is refused with a clear error")
    func misuse() throws {
        let folder = scratchFolder()
        let writer = try QCOW2Writer(path: folder + "/a.qcow2", virtualSize: 1 << 20)
        #expect(throws: DiskImageError.self) { try QCOW2Writer(path: folder + "/a.qcow2", virtualSize: 1 << 20) }
        #expect(throws: DiskImageError.self) { try QCOW2Writer(path: folder + "/b.qcow2", virtualSize: 1 << 20, clusterSize: 3000) }
        let half = [UInt8](repeating: 1, count: 1000)
        #expect(throws: DiskImageError.self) { try half.withUnsafeBytes { try writer.write(firstCluster: 0, $0) } }
        #expect(throws: DiskImageError.self) { try writer.writeZeroes(firstCluster: 15, count: 2) }
        try writer.finish()
        #expect(throws: DiskImageError.self) { try writer.finish() }
    }
}

@Suite("QCOW2 laid out for streaming", .removesScratch)
struct QCOW2StreamTests {
    @Test("a chain flattened into a streamed qcow2 passes qemu-img check and compares equal", arguments: [65536, 4096])
    func streamed(clusterSize: Int) async throws {
        let folder = scratchFolder()
        var random = SplitMix64(seed: 77)
        let size: UInt64 = 24 << 20 + 4608
        let base = try QCOW2Writer(path: folder + "/base.qcow2", virtualSize: size)
        let bytes = random.bytes(6 << 20)
        try bytes.withUnsafeBytes { try base.write(firstCluster: 16, $0) }
        try base.finish()
        let top = try QCOW2Writer(path: folder + "/top.qcow2", virtualSize: size, backingFile: "base.qcow2")
        try top.writeZeroes(firstCluster: 20, count: 8)
        let tail = random.bytes(Int(size % 65536))
        try tail.withUnsafeBytes { try top.write(firstCluster: size / 65536, $0) }
        try top.finish()

        let image = try DiskImages.open(path: folder + "/top.qcow2", backingsWithin: nil)
        let layout = QCOW2StreamLayout(virtualSize: size, clusterSize: clusterSize,
                                       dataClusters: QCOW2StreamLayout.dataClusters(of: try image.extents(), clusterSize: clusterSize))
        let output = folder + "/streamed.qcow2"
        #expect(FileManager.default.createFile(atPath: output, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        var written: UInt64 = 0
        try await layout.forEachPiece(of: image) { piece in
            try handle.write(contentsOf: piece)
            written += UInt64(piece.count)
        }
        try handle.close()
        #expect(written == layout.fileSize)
        try QCOW2WriterTests.expectClean(output)
        let compare = try tool(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", output, folder + "/top.qcow2"])
        #expect(compare.status == 0, "\(compare.output)")
    }
}
