import Foundation
import SendenseCore
import Synchronization

/// Live progress of one backup, written by the copiers and read by the API,
/// SSE and telemetry. Lock-protected counters: cheap on the data path.
public final class BackupProgress: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var phase: String
        public var totalBytes: UInt64
        public var bytesTransferred: UInt64
        public var disks: [Int: DiskProgress]

        public var percent: Double {
            totalBytes == 0 ? (phase == BackupStatus.completed.rawValue ? 100 : 0) : min(100, Double(bytesTransferred) * 100 / Double(totalBytes))
        }
    }

    public struct DiskProgress: Sendable, Equatable {
        public var totalBytes: UInt64 = 0
        public var bytesTransferred: UInt64 = 0
        /// `started` until its extents are known.
        public var status: BackupStatus = .started
    }

    private let state = Mutex(Snapshot(phase: "starting", totalBytes: 0, bytesTransferred: 0, disks: [:]))

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func setPhase(_ phase: String) { state.withLock { $0.phase = phase } }

    /// Records how much a disk will copy, once its extents are known.
    func planned(disk: Int, bytes: UInt64) {
        state.withLock {
            $0.disks[disk, default: DiskProgress()].totalBytes = bytes
            $0.disks[disk, default: DiskProgress()].status = .inProgress
            $0.totalBytes = $0.disks.values.reduce(0) { $0 + $1.totalBytes }
        }
    }

    func copied(disk: Int, bytes: UInt64) {
        state.withLock {
            $0.disks[disk, default: DiskProgress()].bytesTransferred += bytes
            $0.bytesTransferred += bytes
        }
    }

    func finished(disk: Int) { state.withLock { $0.disks[disk, default: DiskProgress()].status = .completed } }
}
