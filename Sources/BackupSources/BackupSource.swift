import NBD
import SendenseCore

/// A disk of a VM as its source describes it.
public struct SourceDisk: Sendable, Equatable {
    public var index: Int
    public var label: String
    public var capacityBytes: UInt64
    /// Where the disk lives at the source (image path, datastore file).
    public var location: String

    public init(index: Int, label: String, capacityBytes: UInt64, location: String) {
        self.index = index
        self.label = label
        self.capacityBytes = capacityBytes
        self.location = location
    }
}

/// A byte range of a disk.
public struct SourceExtent: Sendable, Equatable {
    public var offset: UInt64
    public var length: UInt64
    public init(offset: UInt64, length: UInt64) {
        self.offset = offset
        self.length = length
    }
}

/// What to copy from one disk in this session.
public enum CopyPlan: Sendable, Equatable {
    /// Every allocated extent (`base:allocation`).
    case full(reason: String?)
    /// Only what changed since the parent's checkpoint, read through this
    /// meta context (`qemu:dirty-bitmap:NAME`).
    case incremental(context: String)
    /// The parent's checkpoint cannot be used (missing, inconsistent, gone
    /// from the hypervisor): every allocated extent is read, and only the
    /// clusters whose content differs from the parent point are written. The
    /// backup stays an incremental in the same chain, as small as the change
    /// (a full copy when the repository holds no parent image of the disk).
    case changedSinceParent(reason: String)
    /// The source names the extents itself (VMware CBT: QueryChangedDiskAreas):
    /// every allocated area for a full copy, what changed since the parent
    /// for an incremental one.
    case listed([SourceExtent], incremental: Bool, reason: String?)

    public var isIncremental: Bool {
        switch self {
        case .full: false
        case .incremental, .changedSinceParent: true
        case .listed(_, let incremental, _): incremental
        }
    }

    /// Why this copy is not the plain incremental that was asked for.
    public var reason: String? {
        switch self {
        case .full(let reason), .listed(_, _, let reason): reason
        case .changedSinceParent(let reason): reason
        case .incremental: nil
        }
    }
}

/// One disk of an open session: an NBD export at the session's point in
/// time, what to copy from it, and the checkpoint to record once the
/// backup is committed.
public struct DiskExport: Sendable {
    public var disk: SourceDisk
    public var endpoint: NBDEndpoint
    public var plan: CopyPlan
    public var newCheckpoint: String
}

/// What an open session holds: each disk's export, and what the source
/// knows of the VM at that instant.
public struct BackupSession: Sendable {
    public var exports: [DiskExport]
    /// nil when the source cannot tell (a VMware snapshot's quiescing is vCenter's).
    public var consistency: PointConsistency?
    /// Why the point is only crash-consistent, or how it was made consistent.
    public var consistencyNote: String?
    /// The VM's configuration at the checkpoint, when the source has one to give.
    public var configuration: VMConfiguration?

    public init(exports: [DiskExport], consistency: PointConsistency? = nil, consistencyNote: String? = nil,
                configuration: VMConfiguration? = nil) {
        self.exports = exports
        self.consistency = consistency
        self.consistencyNote = consistencyNote
        self.configuration = configuration
    }
}

/// A place disks are backed up from: VMware, QEMU images, live KVM.
/// A session holds a point in time (snapshot, bitmap checkpoint) and the NBD
/// servers exporting it; leaving `withSession` releases all of it, whatever
/// happened inside.
public protocol BackupSource: Sendable {
    func disks() async throws -> [SourceDisk]

    /// - Parameters:
    ///   - backupID: names the new checkpoint.
    ///   - parentCheckpoints: the committed checkpoint of each disk index, or
    ///     nil for a full backup.
    ///   - obsolete: the checkpoints the new one replaces once the backup
    ///     commits (the chain head's: an incremental's parent, or the one a
    ///     new full starts over from); a source that keeps state per
    ///     checkpoint drops them then.
    ///   - committed: the body returns true once the backup is durable; only
    ///     then does the source keep the new checkpoint (and drop the obsolete ones).
    func withSession<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result
}

public enum SourceError: Error, Equatable, Sendable, CustomStringConvertible {
    case diskNotFound(String)
    case unsupportedFormat(path: String, format: String)
    case toolFailed(command: String, message: String)
    case exportFailed(String)

    public var description: String {
        switch self {
        case .diskNotFound(let path): "disk image not found or not readable: \(path)"
        case .unsupportedFormat(let path, let format): "\(path) is \(format); only qcow2 and raw images can be backed up"
        case .toolFailed(let command, let message): "\(command) failed: \(message)"
        case .exportFailed(let message): message
        }
    }
}
