import Catalog
import Engine
import Foundation

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
            send("job_created", ["job_id": id, "type": "backup", "vm_name": vm, "backup_type": type, "status": "started"])
        case .ended(let id, let vm, let status, let error):
            let name = status == "completed" ? "job_completed" : status == "cancelled" ? "job_cancelled" : "job_failed"
            var fields: [String: String] = ["job_id": id, "type": "backup", "vm_name": vm, "status": status]
            if let error { fields["error_message"] = error }
            send(name, fields)
        }
    }

    /// Called every second: progress of each running backup, sessions
    /// expiring within 5 minutes (once each), a heartbeat comment every 15 s.
    func tick(backups: BackupService, catalog: CatalogDatabase) async {
        guard !subscribers.isEmpty else { return }
        ticks += 1
        for job in await backups.runningProgress() {
            let progress = ProgressEvent(jobId: job.backupID, vmName: job.vmName, phase: job.progress.phase,
                                         bytesTransferred: job.progress.bytesTransferred, totalBytes: job.progress.totalBytes,
                                         progressPercent: (job.progress.percent * 10).rounded() / 10)
            send("job_progress", progress)
        }
        // A session kept alive moves out of the window and is warned again when it nears expiry once more.
        let soon = Date().addingTimeInterval(300)
        let mounts = (try? await catalog.mounts()) ?? []
        warnedMounts.formIntersection(mounts.filter { $0.expiresAt <= soon }.map(\.mountId))
        for mount in mounts where mount.expiresAt <= soon && !warnedMounts.contains(mount.mountId) {
            warnedMounts.insert(mount.mountId)
            send("mount_expiring", ["mount_id": mount.mountId, "backup_id": mount.backupId, "expires_at": mount.expiresAt.formatted(.iso8601)])
        }
        if ticks % 15 == 0 {
            for continuation in subscribers.values { continuation.yield(Event(name: "", data: "")) }
        }
    }

    private func send(_ name: String, _ payload: some Encodable) {
        guard !subscribers.isEmpty, let data = try? encoder.encode(payload) else { return }
        let event = Event(name: name, data: String(decoding: data, as: UTF8.self))
        for continuation in subscribers.values { continuation.yield(event) }
    }

    struct ProgressEvent: Encodable {
        var jobId: String
        var vmName: String
        var phase: String
        var bytesTransferred: UInt64
        var totalBytes: UInt64
        var progressPercent: Double
        var type = "backup"

        enum CodingKeys: String, CodingKey {
            case jobId = "job_id", vmName = "vm_name", phase, bytesTransferred = "bytes_transferred", totalBytes = "total_bytes"
            case progressPercent = "progress_percent", type
        }
    }
}
