import BackupSources
import Crypto
import DiskImage
import Foundation
import NBD
import NIOCore
import Repository
import SendenseCore

/// Copies one disk of a session into a new QCOW2 image: asks the export
/// which extents to copy, reads them with several NBD requests in flight,
/// and writes whole clusters, a SHA-256 per chunk going into the manifest.
/// Clusters that read as zeros become zero clusters in an incremental (so
/// the parent's old data cannot show through) and are skipped in a full.
/// A copy that compares (`.changedSinceParent`) reads the parent point's
/// image beside the source and writes only the clusters that differ.
struct DiskCopier {
    var export: DiskExport
    var imagePath: String
    var backingFile: String?
    /// The parent point's image of this disk, read through its chain, when the copy compares.
    var parentImage: (any DiskImageReader)?
    var clusterSize = 65536
    var maxChunk: UInt64 = 4 << 20
    /// Reads in flight: up to `maxBytesInFlight` of data, at most
    /// `maxRequestsInFlight` requests. A full backup's 4 MiB chunks keep 8
    /// in flight; an incremental's scattered 64 KiB clusters keep 64, so
    /// round trips overlap instead of adding up.
    var maxBytesInFlight: UInt64 = 32 << 20
    var maxRequestsInFlight = 64
    var progress: BackupProgress

    struct Result: Sendable {
        var bytesWritten: UInt64
        var runs: [BackupManifest.Run]
    }

    func copy() async throws -> Result {
        // Over a backing file, zeros must be written (the parent's data would show through).
        let incremental = backingFile != nil
        let context: String?
        var dirtyBitmap = false
        switch export.plan {
        case .full, .changedSinceParent: context = "base:allocation"
        case .incremental(let dirtyContext): (context, dirtyBitmap) = (dirtyContext, true)
        case .listed: context = nil
        }
        return try await NBDClient.withConnection(to: export.endpoint, metaContexts: context.map { [$0] } ?? []) { nbd in
            let size = nbd.info.size
            // Ranges to copy, in any order.
            var ranges: [(offset: UInt64, length: UInt64)] = []
            if case .listed(let extents, _, _) = export.plan {
                ranges = extents.map { ($0.offset, $0.length) }
            } else if let context {
                var offset: UInt64 = 0
                while offset < size {
                    let length = Int(min(size - offset, 1 << 30))
                    let extents = try await nbd.blockStatus(offset: offset, length: length, context: context)
                    for extent in extents where Self.needsCopy(extent, dirtyBitmap: dirtyBitmap) {
                        ranges.append((extent.offset, min(extent.length, size - extent.offset)))
                    }
                    guard let last = extents.last, last.offset + last.length > offset else { break }
                    offset = last.offset + last.length
                }
            }
            // Where the parent holds data the source may now read as zeros: compared too.
            let parentImage = self.parentImage
            if let parentImage {
                let extents = try await BlockingPool.shared.run { try parentImage.extents() }
                ranges += extents.filter { $0.kind == .data && $0.offset < size }.map { ($0.offset, min($0.length, size - $0.offset)) }
            }
            let plan = CopyRuns(clusterSize: clusterSize, diskSize: size, ranges: ranges)
            progress.planned(disk: export.disk.index, bytes: plan.totalBytes)

            let writer = try QCOW2Writer(path: imagePath, virtualSize: size, clusterSize: clusterSize, backingFile: backingFile)
            var runs: [BackupManifest.Run] = []
            let chunks = plan.chunks(maxChunk: min(maxChunk, UInt64(nbd.info.maximumBlockSize)))
            let clusterSize = self.clusterSize
            try await withThrowingTaskGroup(of: ReadChunk.self) { group in
                var next = 0
                var requests = 0
                var bytes: UInt64 = 0
                func schedule() {
                    while next < chunks.count, requests < maxRequestsInFlight,
                          requests == 0 || bytes + chunks[next].length <= maxBytesInFlight {
                        let chunk = chunks[next]
                        next += 1
                        requests += 1
                        bytes += chunk.length
                        // Hashing and zero detection happen here, in parallel,
                        // so the writing loop below only writes.
                        group.addTask {
                            let data = try await nbd.read(offset: chunk.offset, length: Int(chunk.length))
                            let parent = try parentImage.map { try $0.read(count: Int(chunk.length), at: chunk.offset) }
                            return ReadChunk(chunk: chunk, data: data, segments: Self.segments(of: data, clusterSize: clusterSize, parent: parent))
                        }
                    }
                }
                schedule()
                // The writer has one owner: this loop. Reads complete in any order.
                while let read = try await group.next() {
                    // Cancel stops within one chunk per request in flight.
                    try Task.checkCancellation()
                    requests -= 1
                    bytes -= read.chunk.length
                    schedule()
                    runs += try write(read, to: writer, incremental: incremental)
                    progress.copied(disk: export.disk.index, bytes: read.chunk.length)
                }
            }
            // Not fsynced here: the commit fsyncs the whole partial folder at once.
            try writer.finish(durable: false)
            progress.finished(disk: export.disk.index)
            return Result(bytesWritten: writer.dataBytesWritten, runs: runs.sorted { $0.offset < $1.offset })
        }
    }

    /// base:allocation: copy what is not a hole and not known zero. A dirty
    /// bitmap: copy every dirty extent.
    static func needsCopy(_ extent: NBDExtent, dirtyBitmap: Bool) -> Bool {
        dirtyBitmap ? extent.flags & NBDExtent.dirty != 0 : extent.flags & (NBDExtent.hole | NBDExtent.zero) == 0
    }

    /// A read chunk cut into runs of whole clusters that are all zero or
    /// all data, each data run with its SHA-256.
    struct ReadChunk: Sendable {
        var chunk: CopyRuns.Run
        var data: ByteBuffer
        var segments: [Segment]
    }

    struct Segment: Sendable {
        enum Kind: Sendable { case data, zero, unchanged }
        /// Byte range within the chunk.
        var start: Int
        var end: Int
        var kind: Kind
        var sha256: String?
    }

    /// Runs of clusters of one kind; with `parent` (the same range as the
    /// parent point reads it), clusters equal to the parent's are `unchanged`.
    static func segments(of data: ByteBuffer, clusterSize cluster: Int, parent: [UInt8]? = nil) -> [Segment] {
        data.withUnsafeReadableBytes { bytes in
            func kind(_ index: Int) -> Segment.Kind {
                if let parent {
                    let start = index * cluster, end = min(bytes.count, start + cluster)
                    let same = parent.withUnsafeBytes { memcmp(bytes.baseAddress! + start, $0.baseAddress! + start, end - start) == 0 }
                    if same { return .unchanged }
                }
                return isZero(bytes, cluster: index, size: cluster) ? .zero : .data
            }
            var segments: [Segment] = []
            let kinds = (0..<(bytes.count + cluster - 1) / cluster).map(kind)
            var index = 0
            while index < kinds.count {
                let first = kinds[index]
                var end = index + 1
                while end < kinds.count && kinds[end] == first { end += 1 }
                let start = index * cluster, stop = min(bytes.count, end * cluster)
                let digest = first == .data ? SHA256.hash(data: UnsafeRawBufferPointer(rebasing: bytes[start..<stop])).lowercaseHex : nil
                segments.append(Segment(start: start, end: stop, kind: first, sha256: digest))
                index = end
            }
            return segments
        }
    }

    private func write(_ read: ReadChunk, to writer: QCOW2Writer, incremental: Bool) throws -> [BackupManifest.Run] {
        let firstCluster = read.chunk.offset / UInt64(clusterSize)
        return try read.data.withUnsafeReadableBytes { bytes -> [BackupManifest.Run] in
            var runs: [BackupManifest.Run] = []
            for segment in read.segments {
                let offset = read.chunk.offset + UInt64(segment.start)
                let cluster = firstCluster + UInt64(segment.start / clusterSize)
                let length = UInt64(segment.end - segment.start)
                switch segment.kind {
                case .unchanged:
                    // The parent point holds these bytes already: they read through the backing file.
                    continue
                case .zero:
                    // A full backup needs nothing for zeros: a new image reads zeros.
                    guard incremental else { continue }
                    try writer.writeZeroes(firstCluster: cluster, count: (length + UInt64(clusterSize) - 1) / UInt64(clusterSize))
                    runs.append(.init(offset: offset, length: length, kind: .zero, sha256: nil))
                case .data:
                    // The read's buffer is written from where it lies (see DataSink).
                    try writer.write(firstCluster: cluster, UnsafeRawBufferPointer(rebasing: bytes[segment.start..<segment.end]), keepingAlive: read.data)
                    runs.append(.init(offset: offset, length: length, kind: .data, sha256: segment.sha256))
                }
            }
            return runs
        }
    }

    static func isZero(_ bytes: UnsafeRawBufferPointer, cluster: Int, size: Int) -> Bool {
        let start = cluster * size
        let end = min(bytes.count, start + size)
        var position = start
        while position + 8 <= end {
            if bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self) != 0 { return false }
            position += 8
        }
        while position < end {
            if bytes[position] != 0 { return false }
            position += 1
        }
        return true
    }
}
