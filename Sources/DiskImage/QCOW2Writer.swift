#if canImport(Glibc)
import Glibc
#endif

/// Writes a new QCOW2 v3 image, append-only: data clusters go to the end of
/// the file as they arrive; L2 tables, the L1 table and the refcounts are
/// written once, by `finish()`, followed by the header and an fsync. Until
/// then the first cluster is zeros, so an unfinished file is never mistaken
/// for an image.
///
/// Writes are whole guest clusters (the last cluster of a disk may be short).
/// A cluster written as zeros gets the zero flag, so a parent's old data
/// cannot show through an incremental image.
///
/// One writer has one owner: it is not Sendable.
public final class QCOW2Writer {
    public let path: String
    public let virtualSize: UInt64
    public let clusterSize: Int
    private let clusterBits: UInt32
    private let file: ImageFile
    /// Data clusters go past the page cache, in big writes (see DataSink).
    private let data: DataSink
    private let backingFile: String?
    /// Guest cluster → L2 entry, grouped by L1 index; only touched tables.
    private var l2: [Int: [UInt64]] = [:]
    /// The next free host cluster offset (cluster 0 is the header).
    private var dataEnd: UInt64
    private var finished = false

    /// Bytes of guest data written (zero clusters not counted).
    public private(set) var dataBytesWritten: UInt64 = 0

    /// - Parameters:
    ///   - backingFile: stored as given; a relative name is resolved against
    ///     the new image's folder (QEMU's rule). Its format is recorded as qcow2.
    public init(path: String, virtualSize: UInt64, clusterSize: Int = 65536, backingFile: String? = nil) throws {
        guard clusterSize.nonzeroBitCount == 1, (512...(2 << 20)).contains(clusterSize) else {
            throw DiskImageError.invalidArgument("cluster size must be a power of two from 512 B to 2 MiB, got \(clusterSize)")
        }
        guard virtualSize > 0 else { throw DiskImageError.invalidArgument("virtual size must be positive") }
        self.path = path
        self.virtualSize = virtualSize
        self.clusterSize = clusterSize
        self.clusterBits = UInt32(clusterSize.trailingZeroBitCount)
        self.backingFile = backingFile
        // O_EXCL: never overwrite an image that is already there.
        self.file = try ImageFile(path: path, flags: O_RDWR | O_CREAT | O_EXCL, mode: 0o644)
        self.data = DataSink(path: path, buffered: file)
        self.dataEnd = UInt64(clusterSize)
        try file.truncate(to: UInt64(clusterSize))
        // The header must fit; fail now rather than after copying a disk.
        _ = try makeHeader(l1Size: 0, l1Offset: 0, refcountOffset: 0, refcountClusters: 0).serialized()
    }

    public var clusterCount: UInt64 { (virtualSize + UInt64(clusterSize) - 1) / UInt64(clusterSize) }
    private var l2Entries: Int { clusterSize / 8 }

    /// Bytes the guest cluster `index` holds (the last one may be short).
    public func length(ofCluster index: UInt64) -> Int {
        Int(min(UInt64(clusterSize), virtualSize - index * UInt64(clusterSize)))
    }

    /// Writes consecutive guest clusters starting at `firstCluster`. `data`
    /// holds whole clusters; it may end short only at the end of the disk.
    /// Clusters already written are overwritten in place; new ones are
    /// appended in one write. With an `owner` keeping `data` valid, new
    /// clusters may be written from `data` after this returns (no copy);
    /// `finish()` waits for them.
    public func write(firstCluster: UInt64, _ data: UnsafeRawBufferPointer, keepingAlive owner: (any Sendable)? = nil) throws {
        try checkOpen()
        let count = UInt64((data.count + clusterSize - 1) / clusterSize)
        guard firstCluster + count <= clusterCount else {
            throw DiskImageError.invalidArgument("write of \(count) clusters at cluster \(firstCluster) runs past the end of the disk")
        }
        let lastLength = data.count - Int(count - 1) * clusterSize
        guard count > 0, lastLength == clusterSize || (firstCluster + count == clusterCount && lastLength == length(ofCluster: firstCluster + count - 1)) else {
            throw DiskImageError.invalidArgument("writes must be whole clusters of \(clusterSize) bytes")
        }
        var index: UInt64 = 0
        while index < count {
            let cluster = firstCluster + index
            // Run of clusters that have no host cluster yet: one append.
            var run: UInt64 = 0
            while index + run < count, hostOffset(ofCluster: cluster + run) == nil { run += 1 }
            if run > 0 {
                let start = Int(index) * clusterSize
                let end = min(data.count, Int(index + run) * clusterSize)
                try self.data.append(UnsafeRawBufferPointer(rebasing: data[start..<end]), at: dataEnd, keepingAlive: owner)
                for k in 0..<run {
                    setEntry(cluster + k, Self.hostEntry(dataEnd + k * UInt64(clusterSize)))
                }
                dataEnd += run * UInt64(clusterSize)
                dataBytesWritten += UInt64(end - start)
                index += run
                continue
            }
            // Overwrite an existing host cluster in place (and clear a zero flag).
            guard let host = hostOffset(ofCluster: cluster) else { continue }
            let start = Int(index) * clusterSize
            let end = min(data.count, start + clusterSize)
            try self.data.write(UnsafeRawBufferPointer(rebasing: data[start..<end]), at: host)
            setEntry(cluster, Self.hostEntry(host))
            dataBytesWritten += UInt64(end - start)
            index += 1
        }
    }

    /// Marks guest clusters as reading zeros. A cluster that had data keeps
    /// its host cluster (now flagged zero) so the file has no leaked cluster.
    public func writeZeroes(firstCluster: UInt64, count: UInt64) throws {
        try checkOpen()
        guard firstCluster + count <= clusterCount else {
            throw DiskImageError.invalidArgument("zero range of \(count) clusters at cluster \(firstCluster) runs past the end of the disk")
        }
        for cluster in firstCluster..<(firstCluster + count) {
            if let host = hostOffset(ofCluster: cluster) {
                setEntry(cluster, Self.hostEntry(host) | QCOW2Image.zeroFlag)
            } else {
                setEntry(cluster, QCOW2Image.zeroFlag)
            }
        }
    }

    /// Writes the tables and the header, and closes the image for writing.
    /// `durable`: the tables are fsynced before the header that makes them
    /// reachable, and the header after, so the file is whole on disk when
    /// this returns. A caller that fsyncs the file itself before anyone can
    /// see it (a backup's commit, for every file of its `.partial` folder)
    /// passes false: each fsync is a flush of the device's cache.
    public func finish(durable: Bool = true) throws {
        try checkOpen()
        try data.flush()
        let cs = UInt64(clusterSize)
        let l1Size = Int((clusterCount + UInt64(l2Entries) - 1) / UInt64(l2Entries))
        let tables = l2.keys.sorted()
        let l1Clusters = UInt64(max(1, (l1Size * 8 + clusterSize - 1) / clusterSize))

        // Layout after the data: L2 tables, L1 table, refcount blocks, refcount
        // table (RefcountLayout sizes the refcounts, which count themselves).
        let l2Start = dataEnd
        let l1Offset = l2Start + UInt64(tables.count) * cs
        let refcountStart = l1Offset + l1Clusters * cs
        let refcounts = RefcountLayout(clusterSize: clusterSize, otherClusters: refcountStart / cs)
        let refcountTableOffset = refcountStart + refcounts.blocks * cs

        var l1 = [UInt8](repeating: 0, count: Int(l1Clusters * cs))
        for (position, l1Index) in tables.enumerated() {
            let offset = l2Start + UInt64(position) * cs
            var table = [UInt8](repeating: 0, count: clusterSize)
            for (slot, entry) in (l2[l1Index] ?? []).enumerated() where entry != 0 {
                table.putBE(entry, at: slot * 8)
            }
            try file.write(table, at: offset)
            l1.putBE(offset | QCOW2Image.copiedFlag, at: l1Index * 8)
        }
        try file.write(l1, at: l1Offset)

        for block in 0..<refcounts.blocks {
            try file.write(refcounts.block(block), at: refcountStart + block * cs)
        }
        try file.write(refcounts.table(blocksOffset: refcountStart), at: refcountTableOffset)

        // Tables first, then the header that makes them reachable.
        if durable { try file.sync() }
        let header = try makeHeader(
            l1Size: UInt32(l1Size), l1Offset: l1Offset,
            refcountOffset: refcountTableOffset, refcountClusters: UInt32(refcounts.tableClusters)).serialized()
        try file.write(header, at: 0)
        if durable { try file.sync() }
        finished = true
    }

    // MARK: internals

    private static func hostEntry(_ host: UInt64) -> UInt64 { host | QCOW2Image.copiedFlag }

    private func hostOffset(ofCluster cluster: UInt64) -> UInt64? {
        let entry = l2[Int(cluster / UInt64(l2Entries))]?[Int(cluster % UInt64(l2Entries))] ?? 0
        let host = entry & QCOW2Image.offsetMask
        return host == 0 ? nil : host
    }

    private func setEntry(_ cluster: UInt64, _ entry: UInt64) {
        let l1Index = Int(cluster / UInt64(l2Entries))
        if l2[l1Index] == nil { l2[l1Index] = [UInt64](repeating: 0, count: l2Entries) }
        l2[l1Index]?[Int(cluster % UInt64(l2Entries))] = entry
    }

    private func checkOpen() throws {
        if finished { throw DiskImageError.invalidArgument("\(path) is already finished") }
    }

    private func makeHeader(l1Size: UInt32, l1Offset: UInt64, refcountOffset: UInt64, refcountClusters: UInt32) -> QCOW2Header {
        QCOW2Header(
            version: 3, backingFileOffset: 0, backingFileSize: 0, clusterBits: clusterBits, size: virtualSize,
            cryptMethod: 0, l1Size: l1Size, l1TableOffset: l1Offset, refcountTableOffset: refcountOffset,
            refcountTableClusters: refcountClusters, snapshotCount: 0, snapshotsOffset: 0, headerLength: 104,
            backingFormat: backingFile == nil ? nil : "qcow2", backingFile: backingFile)
    }
}
