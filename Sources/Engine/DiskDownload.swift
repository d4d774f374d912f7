import DiskImage
import NIOCore
import SendenseCore

/// A restore point's disk streamed to a client as one file: `raw` (the
/// flattened disk), `qcow2` (the chain flattened into one standalone
/// image, tables first) or `vmdk` (streamOptimized, what VMware imports). Pieces are read from the chain as they are sent,
/// on the blocking pool, at most 4 MiB at a time: memory stays bounded
/// whatever the disk's size.
public struct DiskDownload: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case raw
        case qcow2
        case vmdk
    }

    /// Bytes the client receives; nil when only the end tells (compressed grains of a VMDK).
    public let size: UInt64?
    private let image: any DiskImageReader
    private let layout: QCOW2StreamLayout?
    private let vmdk: StreamOptimizedVMDK?

    static let piece: UInt64 = 4 << 20

    /// Opens the chain whose top image is `path`; walking its tables reads files, on the blocking pool.
    public static func open(path: String, as format: Format) async throws -> DiskDownload {
        let image: any DiskImageReader
        do {
            image = try await BlockingPool.shared.run { try BackupImages.open(path) }
        } catch {
            throw DiskDownloadError.unreadable(path: path, reason: "\(error)")
        }
        switch format {
        case .raw:
            return DiskDownload(size: image.virtualSize, image: image, layout: nil, vmdk: nil)
        case .qcow2:
            let layout = try await BlockingPool.shared.run {
                QCOW2StreamLayout(virtualSize: image.virtualSize,
                                  dataClusters: QCOW2StreamLayout.dataClusters(of: try image.extents(), clusterSize: 65536))
            }
            return DiskDownload(size: layout.fileSize, image: image, layout: layout, vmdk: nil)
        case .vmdk:
            return DiskDownload(size: nil, image: image, layout: nil, vmdk: StreamOptimizedVMDK(virtualSize: image.virtualSize))
        }
    }

    /// The guest's size of the disk.
    public var virtualSize: UInt64 { image.virtualSize }

    /// Hands the file to `send` piece by piece, in order. `reached` hears how
    /// far into the guest's disk the pieces sent so far go (a job's progress:
    /// raw and vmdk as they go; qcow2 puts its tables first and says so at its end).
    public func forEachPiece(reached: @Sendable (UInt64) -> Void = { _ in }, _ send: (ByteBuffer) async throws -> Void) async throws {
        let image = self.image
        if let layout {
            // The layout reads the chain between pieces: on the blocking pool. (Capturing the
            // non-escaping `send` directly in the nested closure crashes swift-frontend 6.3.1.)
            try await withoutActuallyEscaping(send) { send in
                try await withTaskExecutorPreference(BlockingPool.shared) {
                    try await layout.forEachPiece(of: image) { piece in try await send(ByteBuffer(bytes: piece)) }
                }
            }
            reached(image.virtualSize)
            return
        }
        if let vmdk {
            // Deflating grains is CPU work: on the blocking pool, like the reads.
            try await withoutActuallyEscaping(send) { send in
                try await withTaskExecutorPreference(BlockingPool.shared) {
                    try await vmdk.forEachPiece(of: image, extents: try image.extents(), reached: reached) { piece in
                        try await send(ByteBuffer(bytes: piece))
                    }
                }
            }
            return
        }
        // Zero runs are sent from one shared zero buffer.
        let zeros = ByteBuffer(repeating: 0, count: Int(Self.piece))
        for extent in try await BlockingPool.shared.run({ try image.extents() }) {
            var offset = extent.offset
            while offset < extent.end {
                let count = Int(min(Self.piece, extent.end - offset))
                if extent.kind == .zero {
                    try await send(zeros.getSlice(at: 0, length: count) ?? zeros)
                } else {
                    let at = offset
                    try await send(ByteBuffer(bytes: try await BlockingPool.shared.run { try image.read(count: count, at: at) }))
                }
                offset += UInt64(count)
                reached(offset)
            }
        }
    }
}

/// Why a disk cannot be downloaded: its stored chain cannot be opened.
public struct DiskDownloadError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var reason: String

    static func unreadable(path: String, reason: String) -> DiskDownloadError { DiskDownloadError(path: path, reason: reason) }

    public var description: String { "cannot open \(path): \(reason)" }
}
