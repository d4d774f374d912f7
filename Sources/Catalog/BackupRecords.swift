import Foundation
import GRDB
import SendenseCore

/// A backup as the catalog indexes it (the repository's manifest is the
/// authority; this row is rebuilt from it after a catalog loss).
public struct BackupJobRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "backup_jobs"
    /// Every column, in the table's order: rows are read by position (`OrderedColumns`).
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases.map { Column($0.rawValue) } }

    public var backupId: String
    public var vmBackupContextId: Int64
    public var repositoryId: Int64
    public var vmName: String
    public var backupType: BackupType
    public var status: BackupStatus
    public var parentBackupId: String?
    public var currentPhase: String?
    public var bytesTransferred: Int64
    public var totalBytes: Int64
    public var errorMessage: String?
    public var note: String?
    /// Whether the guest helped: nil for backups made before it was recorded, and for VMware.
    public var consistency: PointConsistency?
    public var performanceMetrics: String?
    public var createdAt: Date
    public var startedAt: Date?
    public var completedAt: Date?

    public init(backupId: String, vmBackupContextId: Int64, repositoryId: Int64, vmName: String, backupType: BackupType,
                parentBackupId: String?, note: String?, createdAt: Date) {
        self.backupId = backupId
        self.vmBackupContextId = vmBackupContextId
        self.repositoryId = repositoryId
        self.vmName = vmName
        self.backupType = backupType
        self.status = .started
        self.parentBackupId = parentBackupId
        self.currentPhase = "starting"
        self.bytesTransferred = 0
        self.totalBytes = 0
        self.note = note
        self.createdAt = createdAt
    }

    /// Read column by column rather than through `Decodable`, whose keyed lookups took a third of the
    /// time a list of a thousand took to answer; by position (`OrderedColumns`).
    public init(row: Row) throws {
        var columns = OrderedColumns<CodingKeys>(row)
        backupId = try columns.next(.backupId)
        vmBackupContextId = try columns.next(.vmBackupContextId)
        repositoryId = try columns.next(.repositoryId)
        vmName = try columns.next(.vmName)
        backupType = try columns.next(.backupType)
        status = try columns.next(.status)
        parentBackupId = try columns.next(.parentBackupId)
        currentPhase = try columns.next(.currentPhase)
        bytesTransferred = try columns.next(.bytesTransferred)
        totalBytes = try columns.next(.totalBytes)
        errorMessage = try columns.next(.errorMessage)
        note = try columns.next(.note)
        performanceMetrics = try columns.next(.performanceMetrics)
        createdAt = try columns.next(.createdAt)
        startedAt = try columns.next(.startedAt)
        completedAt = try columns.next(.completedAt)
        consistency = try columns.next(.consistency)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case backupId = "backup_id"
        case vmBackupContextId = "vm_backup_context_id"
        case repositoryId = "repository_id"
        case vmName = "vm_name"
        case backupType = "backup_type"
        case status
        case parentBackupId = "parent_backup_id"
        case currentPhase = "current_phase"
        case bytesTransferred = "bytes_transferred"
        case totalBytes = "total_bytes"
        case errorMessage = "error_message"
        case note
        case performanceMetrics = "performance_metrics"
        case createdAt = "created_at"
        case startedAt = "started_at"
        case completedAt = "completed_at"
        case consistency
    }
}

/// A backup as the job list shows it: the few columns `GET /jobs` needs.
public struct BackupJobSummary: Sendable, Equatable {
    public var backupId: String
    public var vmName: String
    public var backupType: BackupType
    public var status: BackupStatus
    public var bytesTransferred: Int64
    public var totalBytes: Int64
    public var errorMessage: String?
    public var createdAt: Date
    public var completedAt: Date?

    /// The columns `init(row:)` reads, in this order: by position, since looking a column up by
    /// name (GRDB compares names without case, lowercasing each one) was 7 % of GET /jobs.
    static let columns = "backup_id, vm_name, backup_type, status, bytes_transferred, total_bytes, error_message, created_at, completed_at"

    init(row: Row) throws {
        guard let type = BackupType(rawValue: row[2]), let status = BackupStatus(rawValue: row[3]) else {
            // What decoding the whole record would say of a broken row.
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription:
                "backup \(row[0] as String? ?? "?") has type \(row[2] as String? ?? "?") and status \(row[3] as String? ?? "?")"))
        }
        backupId = row[0]
        vmName = row[1]
        backupType = type
        self.status = status
        bytesTransferred = row[4]
        totalBytes = row[5]
        errorMessage = row[6]
        createdAt = row[7]
        completedAt = row[8]
    }
}

public struct BackupDiskRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "backup_disks"

    public var id: Int64?
    public var backupId: String
    public var diskIndex: Int
    public var vmwareDiskKey: Int?
    public var capacityBytes: Int64
    public var qcow2Path: String
    public var status: BackupStatus
    public var bytesTransferred: Int64
    public var checkpoint: String?

    public init(backupId: String, diskIndex: Int, capacityBytes: Int64, qcow2Path: String) {
        self.backupId = backupId
        self.diskIndex = diskIndex
        self.capacityBytes = capacityBytes
        self.qcow2Path = qcow2Path
        self.status = .started
        self.bytesTransferred = 0
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) { id = inserted.rowID }

    enum CodingKeys: String, CodingKey {
        case id
        case backupId = "backup_id"
        case diskIndex = "disk_index"
        case vmwareDiskKey = "vmware_disk_key"
        case capacityBytes = "capacity_bytes"
        case qcow2Path = "qcow2_path"
        case status
        case bytesTransferred = "bytes_transferred"
        case checkpoint
    }
}

/// Progress of one disk, as the engine reports it.
public struct DiskProgressUpdate: Sendable {
    public var diskIndex: Int
    public var status: BackupStatus
    public var bytesTransferred: Int64
    public init(diskIndex: Int, status: BackupStatus, bytesTransferred: Int64) {
        self.diskIndex = diskIndex
        self.status = status
        self.bytesTransferred = bytesTransferred
    }
}

/// What a committed backup adds to its rows.
public struct CompletedDisk: Sendable {
    public var diskIndex: Int
    public var bytesTransferred: Int64
    public var checkpoint: String?
    public init(diskIndex: Int, bytesTransferred: Int64, checkpoint: String?) {
        self.diskIndex = diskIndex
        self.bytesTransferred = bytesTransferred
        self.checkpoint = checkpoint
    }
}

public struct BackupListFilter: Hashable, Sendable {
    public var vmName: String?
    public var repositoryId: Int64?
    public var status: BackupStatus?
    public var limit: Int
    public var offset: Int
    public init(vmName: String? = nil, repositoryId: Int64? = nil, status: BackupStatus? = nil, limit: Int = 50, offset: Int = 0) {
        self.vmName = vmName
        self.repositoryId = repositoryId
        self.status = status
        self.limit = limit
        self.offset = offset
    }
}

extension CatalogDatabase {
    /// Records a starting backup with its disks, in one transaction; the
    /// VM's chain row in that repository is created on first use. Refused
    /// (conflict) while another backup of the VM is running.
    public func insertStartedBackup(_ job: BackupJobRecord, contextID: String, vmKey: String, disks: [BackupDiskRecord]) async throws -> BackupJobRecord {
        try await pool.write { db in
            let running = try BackupJobRecord
                .filter(Column("vm_name") == job.vmName && BackupStatus.unfinished.contains(Column("status")))
                .fetchOne(db)
            if let running {
                throw CatalogError.conflict("a backup of \(job.vmName) is already running: \(running.backupId)")
            }
            var job = job
            job.vmBackupContextId = try Self.insertJob(job, contextID: contextID, vmKey: vmKey, disks: disks, db)
            return job
        }
    }

    /// The VM's chain row in the job's repository (created on first use), the job, its disks; answers the chain row's id.
    private static func insertJob(_ job: BackupJobRecord, contextID: String, vmKey: String, disks: [BackupDiskRecord], _ db: Database) throws -> Int64 {
        try db.execute(sql: """
            INSERT INTO vm_backup_contexts (context_id, repository_id, vm_key, created_at) VALUES (?, ?, ?, ?)
            ON CONFLICT (context_id, repository_id) DO NOTHING
            """, arguments: [contextID, job.repositoryId, vmKey, job.createdAt])
        let chainID = try Int64.fetchOne(db, sql: "SELECT id FROM vm_backup_contexts WHERE context_id = ? AND repository_id = ?",
                                         arguments: [contextID, job.repositoryId]) ?? 0
        var job = job
        job.vmBackupContextId = chainID
        try job.insert(db)
        for var disk in disks { try disk.insert(db) }
        return chainID
    }

    /// Records a committed backup found in a repository (a catalog rebuild):
    /// its VM's chain row, the backup as completed, its disks. Nothing when
    /// the backup is known already. Parents must be imported first.
    @discardableResult
    public func importBackup(_ job: BackupJobRecord, contextID: String, vmKey: String, disks: [BackupDiskRecord]) async throws -> Bool {
        try await pool.write { db in
            guard try BackupJobRecord.fetchOne(db, key: job.backupId) == nil else { return false }
            let chainID = try Self.insertJob(job, contextID: contextID, vmKey: vmKey, disks: disks, db)
            try db.execute(sql: """
                UPDATE vm_backup_contexts SET last_backup_id = ? WHERE id = ? AND (last_backup_id IS NULL OR
                  (SELECT created_at FROM backup_jobs WHERE backup_id = last_backup_id) < ?)
                """, arguments: [job.backupId, chainID, job.createdAt])
            try db.execute(sql: "UPDATE vm_contexts SET last_backup_at = MAX(COALESCE(last_backup_at, ?), ?) WHERE context_id = ?",
                           arguments: [job.completedAt, job.completedAt, contextID])
            return true
        }
    }

    public func updateBackupProgress(_ backupID: String, phase: String, bytes: Int64, total: Int64, disks: [DiskProgressUpdate]) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE backup_jobs SET status = 'in_progress', current_phase = ?, bytes_transferred = ?, total_bytes = ?,
                    started_at = COALESCE(started_at, ?)
                WHERE backup_id = ? AND status IN ('started', 'in_progress')
                """, arguments: [phase, bytes, total, Date(), backupID])
            for disk in disks {
                try db.execute(sql: "UPDATE backup_disks SET status = ?, bytes_transferred = ? WHERE backup_id = ? AND disk_index = ?",
                               arguments: [disk.status, disk.bytesTransferred, backupID, disk.diskIndex])
            }
        }
    }

    /// Marks a committed backup completed: only now do its checkpoints count.
    public func completeBackup(_ backupID: String, type: BackupType, parentID: String?, note: String?, consistency: PointConsistency? = nil,
                               bytes: Int64, total: Int64, disks: [CompletedDisk], at date: Date = Date()) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE backup_jobs SET status = 'completed', current_phase = 'completed', backup_type = ?, parent_backup_id = ?,
                    note = ?, consistency = ?, bytes_transferred = ?, total_bytes = ?, completed_at = ? WHERE backup_id = ?
                """, arguments: [type, parentID, note, consistency, bytes, total, date, backupID])
            for disk in disks {
                try db.execute(sql: """
                    UPDATE backup_disks SET status = 'completed', bytes_transferred = ?, checkpoint = ?
                    WHERE backup_id = ? AND disk_index = ?
                    """, arguments: [disk.bytesTransferred, disk.checkpoint, backupID, disk.diskIndex])
            }
            try db.execute(sql: """
                UPDATE vm_backup_contexts SET last_backup_id = ?
                WHERE id = (SELECT vm_backup_context_id FROM backup_jobs WHERE backup_id = ?)
                """, arguments: [backupID, backupID])
            try db.execute(sql: """
                UPDATE vm_contexts SET last_backup_at = ?
                WHERE context_id = (SELECT context_id FROM vm_backup_contexts
                                    WHERE id = (SELECT vm_backup_context_id FROM backup_jobs WHERE backup_id = ?))
                """, arguments: [date, backupID])
        }
    }

    /// Ends a backup that did not commit: `failed` or `cancelled`, with the reason.
    public func endBackup(_ backupID: String, status: BackupStatus, error: String?, at date: Date = Date()) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                UPDATE backup_jobs SET status = ?, current_phase = ?, error_message = ?, completed_at = ?
                WHERE backup_id = ? AND status IN ('started', 'in_progress')
                """, arguments: [status, status.rawValue, error, date, backupID])
            try db.execute(sql: "UPDATE backup_disks SET status = ? WHERE backup_id = ? AND status != 'completed'",
                           arguments: [status, backupID])
        }
    }

    /// After a restart no backup is running: rows that claim so were
    /// interrupted. Answers their ids.
    public func failInterruptedBackups(reason: String) async throws -> [String] {
        try await pool.write { db in
            let ids = try String.fetchAll(db, sql: "SELECT backup_id FROM backup_jobs WHERE status IN ('started', 'in_progress')")
            try db.execute(sql: """
                UPDATE backup_jobs SET status = 'failed', current_phase = 'failed', error_message = ?, completed_at = ?
                WHERE status IN ('started', 'in_progress')
                """, arguments: [reason, Date()])
            try db.execute(sql: "UPDATE backup_disks SET status = 'failed' WHERE status NOT IN ('completed')")
            return ids
        }
    }

    public func backup(id: String) async throws -> BackupJobRecord? {
        try await pool.read { db in try BackupJobRecord.fetchOne(db, key: id) }
    }

    public func backupDisks(of backupID: String) async throws -> [BackupDiskRecord] {
        try await pool.read { db in
            try BackupDiskRecord.filter(Column("backup_id") == backupID).order(Column("disk_index")).fetchAll(db)
        }
    }

    /// The newest completed backup of a VM in a repository: the parent of the next incremental.
    public func lastCompletedBackup(vmName: String, repositoryID: Int64) async throws -> BackupJobRecord? {
        try await pool.read { db in
            try BackupJobRecord
                .filter(Column("vm_name") == vmName && Column("repository_id") == repositoryID && Column("status") == BackupStatus.completed)
                .order(Column("completed_at").desc, Column("created_at").desc)
                .fetchOne(db)
        }
    }

    /// A page of backups, the number matching the filter, and how many disks
    /// each backup on the page has: one read (each read is a hop to the
    /// reader pool and back, a good part of a short request's cost).
    public func backups(_ filter: BackupListFilter) async throws -> (records: [BackupJobRecord], total: Int, diskCounts: [String: Int]) {
        try await pool.read { db in
            var request = BackupJobRecord.all()
            if let vm = filter.vmName { request = request.filter(Column("vm_name") == vm) }
            if let repository = filter.repositoryId { request = request.filter(Column("repository_id") == repository) }
            if let status = filter.status { request = request.filter(Column("status") == status) }
            let total = try request.fetchCount(db)
            let records = try request.order(Column("created_at").desc, Column("backup_id").desc)
                .limit(filter.limit, offset: filter.offset).fetchAll(db)
            return (records, total, try Self.diskCounts(db, of: records.map(\.backupId)))
        }
    }

    /// For the job list: every backup still running and the newest `limit`
    /// of all, newest first, in one query.
    static func runningAndRecentBackups(_ db: Database, limit: Int) throws -> [BackupJobSummary] {
        // The job list's columns only, read from rows: decoding whole records through Codable
        // was most of the database's share of GET /jobs (perf, 50,000 points). A cached
        // statement: preparing it again each time (parser, GRDB's authorizer) cost as much as a row's decoding.
        let columns = BackupJobSummary.columns
        let statement = try db.cachedStatement(sql: """
            SELECT \(columns) FROM backup_jobs WHERE status IN ('started', 'in_progress')
            UNION
            SELECT * FROM (SELECT \(columns) FROM backup_jobs ORDER BY created_at DESC, backup_id DESC LIMIT ?)
            ORDER BY created_at DESC, backup_id DESC
            """)
        // Through a cursor: values decode straight from SQLite's row (`Row.fetchAll` copied every row first).
        return try Array(Row.fetchCursor(statement, arguments: [limit]).map(BackupJobSummary.init(row:)))
    }

    /// How many disks each of these backups has, in one query (a list page once read each backup's disks).
    static func diskCounts(_ db: Database, of backupIDs: [String]) throws -> [String: Int] {
        guard !backupIDs.isEmpty else { return [:] }
        let rows = try Row.fetchAll(db, sql: """
            SELECT backup_id, COUNT(*) AS disks FROM backup_disks WHERE backup_id IN (\(Self.placeholders(backupIDs.count)))
            GROUP BY backup_id
            """, arguments: StatementArguments(backupIDs))
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["backup_id"] as String, $0["disks"] as Int) })
    }

    /// Completed backups of a VM in a repository, oldest first.
    public func chain(vmName: String, repositoryID: Int64) async throws -> [BackupJobRecord] {
        try await pool.read { db in try Self.chain(db, vmName: vmName, repositoryID: repositoryID) }
    }

    static func chain(_ db: Database, vmName: String, repositoryID: Int64) throws -> [BackupJobRecord] {
        try BackupJobRecord
            .filter(Column("vm_name") == vmName && Column("repository_id") == repositoryID && Column("status") == BackupStatus.completed)
            .order(Column("created_at"), Column("backup_id"))
            .fetchAll(db)
    }

    /// What the chain view shows, in one read: the repository (nil: none has
    /// this id), the VM's completed backups in it oldest first, and the
    /// newest finished boot check of each.
    public func chainView(vmName: String, repositoryID: Int64) async throws
        -> (repository: RepositoryRecord, backups: [BackupJobRecord], bootChecks: [String: BootCheckRecord])? {
        try await pool.read { db in
            guard let repository = try RepositoryRecord.fetchOne(db, key: repositoryID) else { return nil }
            let backups = try Self.chain(db, vmName: vmName, repositoryID: repositoryID)
            return (repository, backups, try Self.latestBootChecks(db, backupIDs: backups.map(\.backupId)))
        }
    }

    /// After a merge: the backup now builds on `parent` (nil: it is a full).
    public func reparentBackup(_ backupID: String, parent: String?, type: BackupType) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE backup_jobs SET parent_backup_id = ?, backup_type = ? WHERE backup_id = ?",
                           arguments: [parent, type, backupID])
        }
    }

    public func childBackups(of backupID: String) async throws -> [BackupJobRecord] {
        try await pool.read { db in try BackupJobRecord.filter(Column("parent_backup_id") == backupID).fetchAll(db) }
    }

    /// Removes a point's row. Failed and cancelled backups that were to
    /// build on it keep their rows (the history of what went wrong) without
    /// the parent; a completed or running child still holds it (the foreign
    /// key refuses), which the callers rule out first.
    public func deleteBackupRow(_ backupID: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE vm_backup_contexts SET last_backup_id = NULL WHERE last_backup_id = ?", arguments: [backupID])
            try db.execute(sql: "UPDATE backup_jobs SET parent_backup_id = NULL WHERE parent_backup_id = ? AND status IN (?, ?)",
                           arguments: [backupID, BackupStatus.failed.rawValue, BackupStatus.cancelled.rawValue])
            _ = try BackupJobRecord.deleteOne(db, key: backupID)
        }
    }
}
