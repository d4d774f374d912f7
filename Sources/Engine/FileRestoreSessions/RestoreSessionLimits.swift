import FileRestore
import Foundation

/// Bounds of file-level restore.
public struct RestoreSessionLimits: Sendable {
    public var maxSessions: Int
    public var idleLifetime: TimeInterval
    public var sweepInterval: TimeInterval
    /// A folder download larger than this answers 413 unless `confirm=true`.
    public var maxFolderDownloadBytes: UInt64
    /// The worker process each session reads its disk in.
    public var worker: FileRestoreWorker.Settings

    public init(maxSessions: Int = 10, idleLifetime: TimeInterval = 3600, sweepInterval: TimeInterval = 30,
                maxFolderDownloadBytes: UInt64 = 10 << 30, worker: FileRestoreWorker.Settings = .init()) {
        self.maxSessions = maxSessions
        self.idleLifetime = idleLifetime
        self.sweepInterval = sweepInterval
        self.maxFolderDownloadBytes = maxFolderDownloadBytes
        self.worker = worker
    }
}
