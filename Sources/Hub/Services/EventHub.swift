import Catalog
import Engine
import Foundation
import SendenseAPI
import SendenseCore

/// The hub's live event stream (`GET /events`, Server-Sent Events): jobs
/// created, their progress every second while they run, completed / failed /
/// cancelled, and restore sessions about to expire. Each subscriber has a
/// bounded buffer: a client that reads too slowly loses old progress events,
/// never blocks a job.
actor EventHub: BackupEventSink {
    struct Event: Sendable {
        var name: String
        var data: String
    }

    private var subscribers: [UUID: AsyncStream<Event>.Continuation] = [:]
    private var warnedMounts = Set<String>()
    private var ticks = 0
    /// Each running job's (time, bytes) of the last ticks, for its recent speed.
    private var recent: [String: [(ContinuousClock.Instant, UInt64)]] = [:]
    private static let speedWindow = 6
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    func subscribe() -> (UUID, AsyncStream<Event>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(256))
        subscribers[id] = continuation
        continuation.onTermination = { _ in Task { await self.unsubscribe(id) } }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    /// Ends every stream (shutdown).
    func closeAll() {
        for continuation in subscribers.values { continuation.finish() }
        subscribers.removeAll()
    }

    func publish(_ event: BackupEvent) {
        switch event {
        case .started(let id, let vm, let type):
            send(.jobCreated, ["job_id": id, "type": JobKind.backup.rawValue, "vm_name": vm, "backup_type": type.rawValue,
                                 "status": BackupStatus.started.rawValue])
        case .ended(let id, let vm, let status, let error):
            let name: EventName = switch status {
            case .completed: .jobCompleted
            case .cancelled: .jobCancelled
            default: .jobFailed
            }
            var fields: [String: String] = ["job_id": id, "type": JobKind.backup.rawValue, "vm_name": vm, "status": status.rawValue]
            if let error { fields["error_message"] = error }
            send(name, fields)
        }
    }

    /// Called every second: progress of each running backup, sessions
    /// expiring within 5 minutes (once each), a heartbeat comment every 15 s.
    func tick(backups: BackupService, catalog: CatalogDatabase) async {
        guard !subscribers.isEmpty else { return }
        ticks += 1
        let now = ContinuousClock.now
        let running = await backups.runningProgress()
        recent = recent.filter { id, _ in running.contains { $0.backupID == id } }
        for job in running {
            let snapshot = job.progress
            // Speed over the last few seconds, not since the start: a
            // snapshot or a slow first extent must not drag the ETA for ever.
            var window = recent[job.backupID, default: []]
            window.append((now, snapshot.bytesTransferred))
            if window.count > Self.speedWindow { window.removeFirst(window.count - Self.speedWindow) }
            recent[job.backupID] = window
            let (start, startBytes) = window[0]
            let seconds = (now - start) / .seconds(1)
            let speed = seconds > 0 ? UInt64(Double(snapshot.bytesTransferred - min(startBytes, snapshot.bytesTransferred)) / seconds) : 0
            let left = snapshot.totalBytes > snapshot.bytesTransferred ? snapshot.totalBytes - snapshot.bytesTransferred : 0
            let disks = snapshot.disks.sorted { $0.key < $1.key }.map { index, disk in
                ProgressEvent.Disk(diskIndex: index, status: disk.status, bytesTransferred: disk.bytesTransferred, totalBytes: disk.totalBytes,
                                   progressPercent: disk.totalBytes == 0 ? 0 : (min(100, Double(disk.bytesTransferred) * 100 / Double(disk.totalBytes)) * 10).rounded() / 10)
            }
            let progress = ProgressEvent(jobId: job.backupID, vmName: job.vmName, phase: snapshot.phase,
                                         bytesTransferred: snapshot.bytesTransferred, totalBytes: snapshot.totalBytes,
                                         progressPercent: (snapshot.percent * 10).rounded() / 10, transferSpeedBps: speed,
                                         etaSeconds: speed > 0 ? left / speed : nil, disks: disks)
            send(.jobProgress, progress)
        }
        // A session kept alive moves out of the window and is warned again when it nears expiry once more.
        let soon = Date().addingTimeInterval(300)
        let mounts = (try? await catalog.mounts()) ?? []
        warnedMounts.formIntersection(mounts.filter { $0.expiresAt <= soon }.map(\.mountId))
        for mount in mounts where mount.expiresAt <= soon && !warnedMounts.contains(mount.mountId) {
            warnedMounts.insert(mount.mountId)
            send(.mountExpiring, ["mount_id": mount.mountId, "backup_id": mount.backupId, "expires_at": mount.expiresAt.formatted(.iso8601)])
        }
        if ticks % 15 == 0 {
            for continuation in subscribers.values { continuation.yield(Event(name: "", data: "")) }
        }
    }

    private func send(_ name: EventName, _ payload: some Encodable) {
        guard !subscribers.isEmpty, let data = try? encoder.encode(payload) else { return }
        let event = Event(name: name.rawValue, data: String(decoding: data, as: UTF8.self))
        for continuation in subscribers.values { continuation.yield(event) }
    }

    struct ProgressEvent: Encodable {
        var jobId: String
        var vmName: String
        var phase: String
        var bytesTransferred: UInt64
        var totalBytes: UInt64
        var progressPercent: Double
        var transferSpeedBps: UInt64
        var etaSeconds: UInt64?
        var disks: [Disk]
        var type = JobKind.backup

        struct Disk: Encodable {
            var diskIndex: Int
            var status: BackupStatus
            var bytesTransferred: UInt64
            var totalBytes: UInt64
            var progressPercent: Double

            enum CodingKeys: String, CodingKey {
                case diskIndex = "disk_index", status, bytesTransferred = "bytes_transferred", totalBytes = "total_bytes"
                case progressPercent = "progress_percent"
            }
        }

        enum CodingKeys: String, CodingKey {
            case jobId = "job_id", vmName = "vm_name", phase, bytesTransferred = "bytes_transferred", totalBytes = "total_bytes"
            case progressPercent = "progress_percent", transferSpeedBps = "transfer_speed_bps", etaSeconds = "eta_seconds", disks, type
        }
    }
}
