import Foundation
import GRDB
import SendenseCore

/// A job that is not a backup (restore, verify, prune, merge, cleanup): what
/// `GET /jobs` lists of it once it has started, across restarts.
public struct JobHistoryRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "job_history"

    public var jobId: String
    public var type: JobKind
    public var status: JobState
    public var vmName: String?
    public var detail: String?
    public var errorMessage: String?
    public var createdAt: Date
    public var completedAt: Date?
    /// A disk restore's restore point, and how far it got.
    public var backupId: String?
    public var diskIndex: Int?
    public var bytesDone: Int64?
    public var totalBytes: Int64?

    public init(jobId: String, type: JobKind, status: JobState, vmName: String? = nil, detail: String? = nil,
                errorMessage: String? = nil, createdAt: Date = Date(), completedAt: Date? = nil,
                backupId: String? = nil, diskIndex: Int? = nil, bytesDone: Int64? = nil, totalBytes: Int64? = nil) {
        self.jobId = jobId
        self.type = type
        self.status = status
        self.vmName = vmName
        self.detail = detail
        self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.completedAt = completedAt
        self.backupId = backupId
        self.diskIndex = diskIndex
        self.bytesDone = bytesDone
        self.totalBytes = totalBytes
    }

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id"
        case type
        case status
        case vmName = "vm_name"
        case detail
        case errorMessage = "error_message"
        case createdAt = "created_at"
        case completedAt = "completed_at"
        case backupId = "backup_id"
        case diskIndex = "disk_index"
        case bytesDone = "bytes_done"
        case totalBytes = "total_bytes"
    }
}

extension CatalogDatabase {
    /// Records a job as it starts, and again as it ends.
    public func saveJob(_ record: JobHistoryRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.upsert(db)
        }
    }

    /// A job ended: its status, what it says, and when.
    public func endJob(id: String, status: JobState, detail: String?, errorMessage: String?, at date: Date = Date()) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE job_history SET status = ?, detail = ?, error_message = ?, completed_at = ? WHERE job_id = ?",
                           arguments: [status, detail, errorMessage, date, id])
        }
    }

    public func job(id: String) async throws -> JobHistoryRecord? {
        try await pool.read { db in try JobHistoryRecord.fetchOne(db, key: id) }
    }

    /// The job list's rows in one read (each read is a hop to the reader
    /// pool and back): the backups running and the newest `limit`, the newest
    /// `limit` other jobs, the recoveries running and the newest `limit`.
    public func recentJobRows(limit: Int) async throws -> JobListRows {
        try await pool.read { db in
            JobListRows(backups: try Self.runningAndRecentBackups(db, limit: limit),
                        jobs: try JobHistoryRecord.order(Column("created_at").desc, Column("job_id").desc).limit(limit).fetchAll(db),
                        recoveries: try Self.recentRecoveries(db, limit: limit))
        }
    }

    /// What the job list is made of, as the catalog has it (`backupChanges` counts its tables' commits).
    public struct JobListRows: Sendable {
        public var backups: [BackupJobSummary]
        public var jobs: [JobHistoryRecord]
        public var recoveries: [RecoveryRecord]
    }

    /// Forgets jobs that ended before `date` (the history is not kept forever).
    public func forgetJobs(finishedBefore date: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM job_history WHERE status != 'running' AND completed_at < ?", arguments: [date])
        }
    }

    /// After a restart: jobs the last hub process left running end as failed with `reason`.
    @discardableResult
    public func failRunningJobs(reason: String, at date: Date = Date()) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE job_history SET status = 'failed', error_message = ?, completed_at = ? WHERE status = 'running'",
                           arguments: [reason, date])
            return db.changesCount
        }
    }
}
