/// A run of one QCOW2 file's own clusters, not looking into its backing file.
public struct LayerExtent: Equatable, Sendable {
    public enum Kind: Sendable, Equatable {
        /// This file holds the data (plain or compressed).
        case data
        /// This file says the range reads as zeros (the zero flag).
        case zero
        /// This file says nothing: the backing file shows through.
        case unallocated
    }

    public var offset: UInt64
    public var length: UInt64
    public var kind: Kind
    public var end: UInt64 { offset + length }

    public init(offset: UInt64, length: UInt64, kind: Kind) {
        self.offset = offset
        self.length = length
        self.kind = kind
    }
}

extension QCOW2Image {
    /// What this file itself maps in `[offset, offset + length)`, adjacent
    /// runs of one kind merged. Merging a chain's layers needs this: which
    /// layer a cluster comes from, not what the whole chain reads.
    public func layerExtents(from offset: UInt64, length: UInt64) throws -> [LayerExtent] {
        let end = min(virtualSize, offset + length)
        let clusterSize = UInt64(header.clusterSize)
        var result: [LayerExtent] = []
        func append(_ start: UInt64, _ stop: UInt64, _ kind: LayerExtent.Kind) {
            guard stop > start else { return }
            if let last = result.last, last.kind == kind, last.end == start {
                result[result.count - 1].length += stop - start
            } else {
                result.append(LayerExtent(offset: start, length: stop - start, kind: kind))
            }
        }
        var position = offset
        while position < end {
            let cluster = position / clusterSize
            let l1Index = Int(cluster / l2Entries)
            if l1Index >= l1.count || l1[l1Index] & Self.offsetMask == 0 {
                let stop = min(end, UInt64(l1Index + 1) * l2Entries * clusterSize)
                append(position, stop, .unallocated)
                position = stop
                continue
            }
            let stop = min(end, (cluster + 1) * clusterSize)
            switch try mapping(ofCluster: cluster) {
            case .data, .compressed: append(position, stop, .data)
            case .zero: append(position, stop, .zero)
            case .unallocated: append(position, stop, .unallocated)
            }
            position = stop
        }
        return result
    }
}
