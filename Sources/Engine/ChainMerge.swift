import Crypto
import DiskImage
import Foundation
import Repository
import SendenseCore

/// Folds restore points that are going away into the kept point built on
/// them: one new image showing exactly what the kept point showed, backed by
/// the nearest kept ancestor (or by nothing: it becomes a full). Each
/// cluster comes from the topmost layer that maps it; a zero cluster stays a
/// zero cluster when an ancestor could otherwise show through.
enum ChainMerge {
    struct Outcome: Sendable {
        var bytesWritten: UInt64
        var runs: [BackupManifest.Run]
    }

    /// - Parameters:
    ///   - layers: the kept image first, then the removed images under it, nearest first.
    ///   - backing: the new backing file name (relative to `output`), nil for a full.
    ///   - output: written, flushed and closed here; the caller renames it into place.
    ///   - progress: told the fraction of the disk gone through, now and then.
    static func collapse(layers paths: [String], backing: String?, output: String, maxChunk: Int = 4 << 20,
                         progress: (Double) -> Void = { _ in }) throws -> Outcome {
        let layers = try paths.map(BackupImages.qcow2)
        guard let top = layers.first else { throw DiskImageError.invalidArgument("nothing to merge") }
        let clusterSize = top.clusterSize
        guard layers.allSatisfy({ $0.clusterSize == clusterSize }) else {
            throw DiskImageError.invalidArgument("the images to merge have different cluster sizes")
        }
        let size = top.virtualSize
        let maps = try layers.map { try $0.layerExtents(from: 0, length: size) }
        let writer = try QCOW2Writer(path: output, virtualSize: size, clusterSize: clusterSize, backingFile: backing)
        var runs: [BackupManifest.Run] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: maxChunk, alignment: 4096)
        defer { buffer.deallocate() }
        let step = UInt64(max(clusterSize, maxChunk / clusterSize * clusterSize))
        do {
            var cursors = [Int](repeating: 0, count: layers.count)
            var position: UInt64 = 0
            while position < size {
                var end = size
                var source: (layer: Int, kind: LayerExtent.Kind)?
                for index in layers.indices {
                    let map = maps[index]
                    while cursors[index] < map.count, map[cursors[index]].end <= position { cursors[index] += 1 }
                    // A smaller (older) layer maps nothing past its own end.
                    guard cursors[index] < map.count else { continue }
                    let extent = map[cursors[index]]
                    end = min(end, extent.end)
                    if source == nil, extent.kind != .unallocated { source = (index, extent.kind) }
                    // Layers under the one that maps this range cannot shorten it.
                    if source != nil { break }
                }
                defer {
                    position = end
                    progress(Double(position) / Double(size))
                }
                guard let source else { continue }
                let first = position / UInt64(clusterSize)
                if source.kind == .zero {
                    // Without a backing file an unmapped cluster reads zeros already.
                    guard backing != nil else { continue }
                    try writer.writeZeroes(firstCluster: first, count: (end - position + UInt64(clusterSize) - 1) / UInt64(clusterSize))
                    runs.append(.init(offset: position, length: end - position, kind: .zero, sha256: nil))
                    continue
                }
                var offset = position
                while offset < end {
                    let length = Int(min(step, end - offset))
                    let piece = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
                    try layers[source.layer].read(into: piece, at: offset)
                    try writer.write(firstCluster: offset / UInt64(clusterSize), UnsafeRawBufferPointer(piece))
                    let digest = SHA256.hash(data: UnsafeRawBufferPointer(piece)).lowercaseHex
                    runs.append(.init(offset: offset, length: UInt64(length), kind: .data, sha256: digest))
                    offset += UInt64(length)
                    progress(Double(offset) / Double(size))
                }
            }
            try writer.finish()
        } catch {
            unlink(output)
            throw error
        }
        return Outcome(bytesWritten: writer.dataBytesWritten, runs: runs)
    }
}
