import Foundation
import GRDB
import SendenseCore

/// A telemetry sample of a running job (job_telemetry_snapshots).
struct TelemetrySnapshotRecord: CatalogRecord {
    static let databaseTableName = "job_telemetry_snapshots"
    var id: Int64?
    var jobId: String
    var timestamp: Date
    var bytesTransferred: Int64
    var speedBps: Int64
    var progressPercent: Double
    var phase: String

    var sample: TelemetrySample {
        TelemetrySample(timestamp: timestamp, bytesTransferred: bytesTransferred, speedBps: speedBps, progressPercent: progressPercent, phase: phase)
    }

    enum CodingKeys: String, CodingKey {
        case id
        case jobId = "job_id"
        case timestamp
        case bytesTransferred = "bytes_transferred"
        case speedBps = "speed_bps"
        case progressPercent = "progress_percent"
        case phase
    }
}

/// What `GET /telemetry/summary` counts.
public struct BackupSummary: Sendable, Equatable {
    public var total: Int
    public var successful: Int
    public var failed: Int
    public var averageSizeBytes: Int64
    public var averageDurationSeconds: Double
}

extension CatalogDatabase {
    public func recordTelemetry(jobID: String, _ sample: TelemetrySample) async throws {
        try await pool.write { db in
            var row = TelemetrySnapshotRecord(jobId: jobID, timestamp: sample.timestamp, bytesTransferred: sample.bytesTransferred,
                                              speedBps: sample.speedBps, progressPercent: sample.progressPercent, phase: sample.phase)
            try row.insert(db)
        }
    }

    /// The samples of a job still running (or never rolled up), oldest first.
    public func telemetry(jobID: String) async throws -> [TelemetrySample] {
        try await pool.read { db in
            try TelemetrySnapshotRecord.filter(Column("job_id") == jobID).order(Column("timestamp"), Column("id")).fetchAll(db).map(\.sample)
        }
    }

    /// In one transaction: the job's samples (plus `final`) become its
    /// performance_metrics and are deleted.
    @discardableResult
    public func rollUpTelemetry(backupID: String, final: TelemetrySample?) async throws -> TelemetryRollup {
        try await pool.write { db in
            var samples = try TelemetrySnapshotRecord.filter(Column("job_id") == backupID).order(Column("timestamp"), Column("id")).fetchAll(db).map(\.sample)
            if let final { samples.append(final) }
            let rollup = TelemetryRollup(samples: samples)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            let json = String(decoding: try encoder.encode(rollup), as: UTF8.self)
            try db.execute(sql: "UPDATE backup_jobs SET performance_metrics = ? WHERE backup_id = ?", arguments: [json, backupID])
            try TelemetrySnapshotRecord.filter(Column("job_id") == backupID).deleteAll(db)
            return rollup
        }
    }

    /// Backups that ended (completed or failed; cancelled ones are not
    /// counted as failures), of one VM or all.
    public func backupSummary(vmName: String?) async throws -> BackupSummary {
        try await pool.read { db in
            var request = BackupJobRecord.filter([BackupStatus.completed, .failed].contains(Column("status")))
            if let vmName { request = request.filter(Column("vm_name") == vmName) }
            let jobs = try request.fetchAll(db)
            let completed = jobs.filter { $0.status == .completed }
            let durations = completed.compactMap { job in job.completedAt.map { $0.timeIntervalSince(job.startedAt ?? job.createdAt) } }
            return BackupSummary(
                total: jobs.count, successful: completed.count, failed: jobs.count - completed.count,
                averageSizeBytes: completed.isEmpty ? 0 : completed.reduce(0) { $0 + $1.bytesTransferred } / Int64(completed.count),
                averageDurationSeconds: durations.isEmpty ? 0 : durations.reduce(0, +) / Double(durations.count))
        }
    }
}
