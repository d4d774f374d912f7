/// Which byte ranges of a disk to copy, rounded out to whole clusters of the
/// target image (a cluster is written whole or not at all), merged, and cut
/// into requests no larger than `maxChunk`.
struct CopyRuns {
    struct Run: Equatable {
        var offset: UInt64
        var length: UInt64
        var end: UInt64 { offset + length }
    }

    private(set) var runs: [Run] = []
    let clusterSize: UInt64
    let diskSize: UInt64

    init(clusterSize: Int, diskSize: UInt64) {
        self.clusterSize = UInt64(clusterSize)
        self.diskSize = diskSize
    }

    /// The runs of `ranges` in any order (`add` merges only with the run before).
    init(clusterSize: Int, diskSize: UInt64, ranges: [(offset: UInt64, length: UInt64)]) {
        self.init(clusterSize: clusterSize, diskSize: diskSize)
        for range in ranges.sorted(by: { $0.offset < $1.offset }) { add(offset: range.offset, length: range.length) }
    }

    /// Adds a range at or after the start of the last one.
    mutating func add(offset: UInt64, length: UInt64) {
        guard length > 0, offset < diskSize else { return }
        let start = offset / clusterSize * clusterSize
        let end = min(diskSize, (min(diskSize, offset + length) + clusterSize - 1) / clusterSize * clusterSize)
        if let last = runs.last, start <= last.end {
            runs[runs.count - 1].length = max(last.end, end) - last.offset
        } else {
            runs.append(Run(offset: start, length: end - start))
        }
    }

    var totalBytes: UInt64 { runs.reduce(0) { $0 + $1.length } }

    /// Pieces of at most `maxChunk` bytes (a multiple of the cluster size).
    func chunks(maxChunk: UInt64) -> [Run] {
        let step = max(clusterSize, maxChunk / clusterSize * clusterSize)
        var result: [Run] = []
        for run in runs {
            var offset = run.offset
            while offset < run.end {
                let length = min(step, run.end - offset)
                result.append(Run(offset: offset, length: length))
                offset += length
            }
        }
        return result
    }
}
