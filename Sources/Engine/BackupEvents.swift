import SendenseCore
import Synchronization

/// A backup's life as the event stream (SSE) tells it.
public enum BackupEvent: Sendable, Equatable {
    case started(backupID: String, vmName: String, backupType: BackupType)
    case ended(backupID: String, vmName: String, status: BackupStatus, error: String?)
}

/// Who hears of backups starting and ending (the hub's event stream).
public protocol BackupEventSink: Sendable {
    func publish(_ event: BackupEvent) async
}

/// Turns progress snapshots into telemetry samples: speed over the time
/// since the previous sample.
final class TelemetrySampler: Sendable {
    private let last = Mutex<(at: ContinuousClock.Instant, bytes: UInt64)?>(nil)

    func sample(_ snapshot: BackupProgress.Snapshot, at now: ContinuousClock.Instant = .now) -> TelemetrySample {
        let previous = last.withLock { value in
            defer { value = (now, snapshot.bytesTransferred) }
            return value
        }
        var speed: Int64 = 0
        if let previous {
            let elapsed = now - previous.at
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            if seconds > 0 { speed = Int64(Double(snapshot.bytesTransferred &- min(previous.bytes, snapshot.bytesTransferred)) / seconds) }
        }
        return TelemetrySample(timestamp: .now, bytesTransferred: Int64(snapshot.bytesTransferred), speedBps: speed,
                               progressPercent: (snapshot.percent * 10).rounded() / 10, phase: snapshot.phase)
    }
}
