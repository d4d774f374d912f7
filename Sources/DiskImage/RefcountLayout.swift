/// The refcount structures of an image in which every cluster is used once
/// (both ways Sendense writes QCOW2: the append-only writer and the
/// streamed layout). They count themselves, so their size is found as a
/// fixed point; 16-bit refcounts (refcount_order 4).
struct RefcountLayout {
    let clusterSize: Int
    let blocks: UInt64
    let tableClusters: UInt64
    /// Every cluster of the file, the refcount structures included.
    let totalClusters: UInt64

    /// - Parameter otherClusters: clusters of the file that are not refcount structures.
    init(clusterSize: Int, otherClusters: UInt64) {
        self.clusterSize = clusterSize
        let cs = UInt64(clusterSize)
        let perBlock = UInt64(clusterSize * 8 / 16)
        var blocks: UInt64 = 1, tableClusters: UInt64 = 1
        while true {
            let total = otherClusters + blocks + tableClusters
            let neededBlocks = (total + perBlock - 1) / perBlock
            let neededTable = max(1, (neededBlocks * 8 + cs - 1) / cs)
            if neededBlocks == blocks && neededTable == tableClusters { break }
            blocks = neededBlocks
            tableClusters = neededTable
        }
        self.blocks = blocks
        self.tableClusters = tableClusters
        self.totalClusters = otherClusters + blocks + tableClusters
    }

    /// The refcount table, for blocks stored one after another from `blocksOffset`.
    func table(blocksOffset: UInt64) -> [UInt8] {
        var table = [UInt8](repeating: 0, count: Int(tableClusters) * clusterSize)
        for block in 0..<blocks { table.putBE(blocksOffset + block * UInt64(clusterSize), at: Int(block) * 8) }
        return table
    }

    /// Refcount block `index`: 1 for every cluster of the file, 0 past its end.
    func block(_ index: UInt64) -> [UInt8] {
        var counts = [UInt8](repeating: 0, count: clusterSize)
        let perBlock = UInt64(clusterSize * 8 / 16)
        let first = index * perBlock
        let used = first < totalClusters ? min(perBlock, totalClusters - first) : 0
        for slot in 0..<Int(used) { counts.putBE(UInt16(1), at: slot * 2) }
        return counts
    }
}
