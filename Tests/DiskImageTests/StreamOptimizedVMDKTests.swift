import DiskImage
import Foundation
import TestSupport
import Testing

@Suite("streamOptimized VMDK, judged by qemu-img", .removesScratch)
struct StreamOptimizedVMDKTests {
    /// Writes the image `reader` reads as a streamOptimized VMDK file; answers how many pieces it came in.
    static func write(_ reader: any DiskImageReader, to path: String, maxPiece: Int = 4 << 20) async throws -> Int {
        let output = RawReference(path: path, size: 0)
        var offset: UInt64 = 0
        var pieces = 0
        try await StreamOptimizedVMDK(virtualSize: reader.virtualSize, extentName: "restored.vmdk")
            .forEachPiece(of: reader, extents: try reader.extents(), maxPiece: maxPiece) { piece in
                output.write(piece, at: offset)
                offset += UInt64(piece.count)
                pieces += 1
            }
        return pieces
    }

    static func expectSame(_ vmdk: String, _ raw: String) throws {
        let check = try tool(["qemu-img", "check", "-f", "vmdk", vmdk])
        #expect(check.status == 0, "qemu-img check: \(check.output)")
        let info = try tool(["qemu-img", "info", "-f", "vmdk", vmdk])
        #expect(info.output.contains("create type: streamOptimized"), "\(info.output)")
        let compare = try tool(["qemu-img", "compare", "-f", "vmdk", "-F", "raw", vmdk, raw])
        #expect(compare.status == 0, "qemu-img compare: \(compare.output)")
    }

    @Test("random data across several grain tables, zero runs and a short last grain read back equal", arguments: [UInt64(7), UInt64(8)])
    func randomDisk(seed: UInt64) async throws {
        let folder = scratchFolder()
        var random = SplitMix64(seed: seed)
        // 70 MiB + 3 sectors: three grain tables (32 MiB each), the last grain short.
        let size = UInt64(70 << 20) + 3 * 512
        let reference = RawReference(path: folder + "/ref.raw", size: size)
        let writer = try QCOW2Writer(path: folder + "/disk.qcow2", virtualSize: size, clusterSize: 65536)
        for _ in 0..<80 {
            let first = UInt64.random(in: 0..<writer.clusterCount, using: &random)
            let count = min(UInt64.random(in: 1...5, using: &random), writer.clusterCount - first)
            let length = Int((first + count - 1) * 65536) + writer.length(ofCluster: first + count - 1) - Int(first * 65536)
            // Some data clusters hold only zeros: the VMDK leaves those grains out.
            let bytes = Int.random(in: 0..<5, using: &random) == 0 ? [UInt8](repeating: 0, count: length) : random.bytes(length)
            try bytes.withUnsafeBytes { try writer.write(firstCluster: first, $0) }
            reference.write(bytes, at: first * 65536)
        }
        // The last (short) cluster holds data, so the short grain is exercised.
        let last = writer.clusterCount - 1
        let tail = random.bytes(writer.length(ofCluster: last))
        try tail.withUnsafeBytes { try writer.write(firstCluster: last, $0) }
        reference.write(tail, at: last * 65536)
        try writer.finish()

        let image = try QCOW2Image(path: folder + "/disk.qcow2", backingsWithin: nil)
        // Small pieces: the file is handed out in many parts, each sector-aligned.
        let pieces = try await Self.write(image, to: folder + "/disk.vmdk", maxPiece: 1 << 20)
        #expect(pieces > 3)
        try Self.expectSame(folder + "/disk.vmdk", folder + "/ref.raw")
        // Compressed and sparse: far smaller than the 70 MiB disk, whose data is random.
        let vmdkSize = try FileManager.default.attributesOfItem(atPath: folder + "/disk.vmdk")[.size] as? Int ?? 0
        let qcowSize = try FileManager.default.attributesOfItem(atPath: folder + "/disk.qcow2")[.size] as? Int ?? 0
        #expect(vmdkSize < qcowSize + (1 << 20))
    }

    @Test("an empty disk is a header, a descriptor and an empty directory")
    func emptyDisk() async throws {
        let folder = scratchFolder()
        _ = RawReference(path: folder + "/ref.raw", size: 16 << 20)
        let image = try DiskImages.open(path: folder + "/ref.raw", backingsWithin: nil)
        _ = try await Self.write(image, to: folder + "/empty.vmdk")
        try Self.expectSame(folder + "/empty.vmdk", folder + "/ref.raw")
        let size = try FileManager.default.attributesOfItem(atPath: folder + "/empty.vmdk")[.size] as? Int ?? 0
        // 128 sectors before the (absent) data; directory marker and one sector of directory; footer marker, footer, end marker.
        #expect(size == (128 + 2 + 3) * 512)
    }
}
