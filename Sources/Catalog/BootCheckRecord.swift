import Foundation
import GRDB
import SendenseCore

/// A boot check of a restore point: its VM started in a sandbox (an instant
/// recovery with no network) until the guest showed its heartbeat, its
/// screen captured, then discarded. Its job has the same id.
public struct BootCheckRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "boot_checks"

    public var checkId: String
    public var backupId: String
    public var vmName: String
    public var heartbeat: BootHeartbeat
    /// The text a `console` heartbeat waits for.
    public var consolePattern: String?
    public var timeoutSeconds: Int
    public var status: BootCheckStatus
    /// Why it failed or could not judge; what it saw when it passed.
    public var reason: String?
    /// From the request to the heartbeat.
    public var heartbeatSeconds: Double?
    /// The PNG of the guest's screen, in the hub's data dir.
    public var screenshot: String?
    /// The sandbox's instant recovery session.
    public var recoveryId: String?
    public var createdAt: Date
    public var completedAt: Date?

    public init(checkId: String, backupId: String, vmName: String, heartbeat: BootHeartbeat, consolePattern: String?, timeoutSeconds: Int,
                createdAt: Date = Date()) {
        self.checkId = checkId
        self.backupId = backupId
        self.vmName = vmName
        self.heartbeat = heartbeat
        self.consolePattern = consolePattern
        self.timeoutSeconds = timeoutSeconds
        self.status = .running
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case checkId = "check_id"
        case backupId = "backup_id"
        case vmName = "vm_name"
        case heartbeat
        case consolePattern = "console_pattern"
        case timeoutSeconds = "timeout_seconds"
        case status, reason
        case heartbeatSeconds = "heartbeat_seconds"
        case screenshot
        case recoveryId = "recovery_id"
        case createdAt = "created_at"
        case completedAt = "completed_at"
    }
}

extension CatalogDatabase {
    public func saveBootCheck(_ record: BootCheckRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.save(db)
        }
    }

    public func bootCheck(id: String) async throws -> BootCheckRecord? {
        try await pool.read { db in try BootCheckRecord.fetchOne(db, key: id) }
    }

    /// A point's checks, newest first.
    public func bootChecks(backupID: String) async throws -> [BootCheckRecord] {
        try await pool.read { db in
            try BootCheckRecord.fetchAll(db, sql: "SELECT * FROM boot_checks WHERE backup_id = ? ORDER BY created_at DESC, check_id DESC",
                                         arguments: [backupID])
        }
    }

    public func runningBootChecks() async throws -> [BootCheckRecord] {
        try await pool.read { db in try BootCheckRecord.fetchAll(db, sql: "SELECT * FROM boot_checks WHERE status = 'running'") }
    }

    /// Checks a hub stop cut short: they end as `error`.
    public func endRunningBootChecks(reason: String, now: Date) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "UPDATE boot_checks SET status = 'error', reason = ?, completed_at = ? WHERE status = 'running'",
                           arguments: [reason, now])
            return db.changesCount
        }
    }

    /// The newest finished check of each of these points (the chain's badges).
    static func latestBootChecks(_ db: Database, backupIDs: [String]) throws -> [String: BootCheckRecord] {
        guard !backupIDs.isEmpty else { return [:] }
        let rows = try BootCheckRecord.fetchAll(db, sql: """
            SELECT * FROM boot_checks WHERE backup_id IN (\(Self.placeholders(backupIDs.count))) AND status != 'running' ORDER BY created_at
            """, arguments: StatementArguments(backupIDs))
        return Dictionary(rows.map { ($0.backupId, $0) }, uniquingKeysWith: { _, newer in newer })
    }
}
