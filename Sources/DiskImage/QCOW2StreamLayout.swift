/// A QCOW2 image laid out for streaming: every table comes before the data,
/// so the file can be produced front to back (an HTTP download) from the
/// list of guest clusters that hold data. Layout: header, L1 table, refcount
/// table, refcount blocks, L2 tables, then the data clusters in guest order.
///
/// Holds one UInt64 per data cluster (128 MiB for a full 1 TiB disk at 64 KiB).
public struct QCOW2StreamLayout: Sendable {
    public let virtualSize: UInt64
    public let clusterSize: Int
    /// Guest clusters holding data, ascending.
    public let dataClusters: [UInt64]
    let l1Size: Int
    let l1Clusters: UInt64
    let tables: [Int]
    let refcounts: RefcountLayout

    public init(virtualSize: UInt64, clusterSize: Int = 65536, dataClusters: [UInt64]) {
        self.virtualSize = virtualSize
        self.clusterSize = clusterSize
        self.dataClusters = dataClusters
        let cs = UInt64(clusterSize)
        let l2Entries = UInt64(clusterSize / 8)
        let clusters = (virtualSize + cs - 1) / cs
        l1Size = Int((clusters + l2Entries - 1) / l2Entries)
        l1Clusters = UInt64(max(1, (l1Size * 8 + clusterSize - 1) / clusterSize))
        var seen: [Int] = []
        for cluster in dataClusters where seen.last != Int(cluster / l2Entries) { seen.append(Int(cluster / l2Entries)) }
        tables = seen
        refcounts = RefcountLayout(
            clusterSize: clusterSize, otherClusters: 1 + l1Clusters + UInt64(tables.count) + UInt64(dataClusters.count))
    }

    var cs: UInt64 { UInt64(clusterSize) }
    var l1Offset: UInt64 { cs }
    var refcountTableOffset: UInt64 { l1Offset + l1Clusters * cs }
    var refcountBlocksOffset: UInt64 { refcountTableOffset + refcounts.tableClusters * cs }
    var l2Offset: UInt64 { refcountBlocksOffset + refcounts.blocks * cs }
    var dataOffset: UInt64 { l2Offset + UInt64(tables.count) * cs }

    /// Size of the whole file: every cluster is emitted whole.
    public var fileSize: UInt64 { refcounts.totalClusters * cs }

    /// Everything before the data: header, L1, refcounts and L2 tables.
    public func metadata() throws -> [UInt8] {
        let header = QCOW2Header(
            version: 3, backingFileOffset: 0, backingFileSize: 0, clusterBits: UInt32(clusterSize.trailingZeroBitCount),
            size: virtualSize, cryptMethod: 0, l1Size: UInt32(l1Size), l1TableOffset: l1Offset,
            refcountTableOffset: refcountTableOffset, refcountTableClusters: UInt32(refcounts.tableClusters),
            snapshotCount: 0, snapshotsOffset: 0, headerLength: 104)
        var bytes = try header.serialized()
        var l1 = [UInt8](repeating: 0, count: Int(l1Clusters * cs))
        for (position, l1Index) in tables.enumerated() {
            l1.putBE((l2Offset + UInt64(position) * cs) | QCOW2Image.copiedFlag, at: l1Index * 8)
        }
        bytes += l1
        bytes += refcounts.table(blocksOffset: refcountBlocksOffset)
        for block in 0..<refcounts.blocks { bytes += refcounts.block(block) }
        let l2Entries = UInt64(clusterSize / 8)
        var rank = 0
        for l1Index in tables {
            var l2 = [UInt8](repeating: 0, count: clusterSize)
            let end = UInt64(l1Index + 1) * l2Entries
            while rank < dataClusters.count && dataClusters[rank] < end {
                let host = dataOffset + UInt64(rank) * cs
                l2.putBE(host | QCOW2Image.copiedFlag, at: Int(dataClusters[rank] % l2Entries) * 8)
                rank += 1
            }
            bytes += l2
        }
        return bytes
    }

    /// The guest clusters a chain's extents say hold data.
    public static func dataClusters(of extents: [ImageExtent], clusterSize: Int) -> [UInt64] {
        let cs = UInt64(clusterSize)
        var clusters: [UInt64] = []
        for extent in extents where extent.kind == .data {
            var cluster = extent.offset / cs
            let last = (extent.end - 1) / cs
            if clusters.last == cluster { cluster += 1 }
            while cluster <= last {
                clusters.append(cluster)
                cluster += 1
            }
        }
        return clusters
    }
}

extension QCOW2StreamLayout {
    /// Produces the file front to back: the metadata, then the data clusters
    /// read from `image` in runs of at most `maxPiece` bytes. The last cluster
    /// of a disk whose size is not a whole number of clusters is zero-padded.
    public func forEachPiece(of image: any DiskImageReader, maxPiece: Int = 4 << 20, _ body: ([UInt8]) async throws -> Void) async throws {
        try await body(metadata())
        let perPiece = max(1, maxPiece / clusterSize)
        var index = 0
        while index < dataClusters.count {
            // A run of consecutive guest clusters: one read.
            var end = index + 1
            while end < dataClusters.count, end - index < perPiece, dataClusters[end] == dataClusters[end - 1] + 1 { end += 1 }
            let offset = dataClusters[index] * cs
            let wanted = UInt64(end - index) * cs
            let available = Int(min(wanted, image.virtualSize - offset))
            var piece = try image.read(count: available, at: offset)
            if piece.count < Int(wanted) { piece += [UInt8](repeating: 0, count: Int(wanted) - piece.count) }
            try await body(piece)
            index = end
        }
    }
}
