import Foundation
import GRDB

/// The hub's SQLite catalog: an index of users, sources, repositories and
/// backups. WAL mode (a `DatabasePool`), foreign keys enforced, schema moved
/// forward by versioned migrations. Everything needed to restore also lives in
/// the repositories, so this file can be rebuilt from them.
public final class CatalogDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String
    let tokenUsers: TokenUserCache
    /// This process's commits to what the hub's lists are read from: it keeps
    /// their answers (`KeptValues`) until these move. VMs (`vm_contexts`);
    public let vmContextChanges: TableChanges
    /// backups and what the backup and job lists show with them (disks, boot
    /// checks, repositories, other jobs, recoveries);
    public let backupChanges: TableChanges
    /// protection flows and what their list shows (groups, members, VMs, last runs).
    public let flowChanges: TableChanges
    private let observations: [AnyDatabaseCancellable]

    /// `tokenRecheck`: how long a token's user, once read, is trusted without
    /// reading it again; changes made by this process apply at once, those of
    /// another process (`sendense admin reset-password`) within this time.
    public init(path: String, tokenRecheck: Duration = .seconds(2)) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = true
        // A writer waiting on another writer retries instead of failing at once.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try CatalogMigrations.migrator.migrate(pool)
        let userChanges = TableChanges(), vmContextChanges = TableChanges(), backupChanges = TableChanges(), flowChanges = TableChanges()
        self.vmContextChanges = vmContextChanges
        self.backupChanges = backupChanges
        self.flowChanges = flowChanges
        self.tokenUsers = TokenUserCache(recheckAfter: tokenRecheck, changes: userChanges)
        self.observations = [
            userChanges.observe(pool, tables: [UserRecord.databaseTableName, APITokenRecord.databaseTableName]),
            vmContextChanges.observe(pool, tables: [VMContextRecord.databaseTableName]),
            backupChanges.observe(pool, tables: [
                BackupJobRecord.databaseTableName, BackupDiskRecord.databaseTableName, BootCheckRecord.databaseTableName,
                RepositoryRecord.databaseTableName, JobHistoryRecord.databaseTableName, RecoveryRecord.databaseTableName,
            ]),
            flowChanges.observe(pool, tables: [
                ProtectionFlowRecord.databaseTableName, ProtectionGroupRecord.databaseTableName,
                ProtectionGroupMemberRecord.databaseTableName, VMContextRecord.databaseTableName, FlowExecutionRecord.databaseTableName,
            ]),
        ]
    }

    /// Brings a catalog file to an older schema version only (tests of a
    /// migration: the rows an older hub wrote must survive it).
    package static func migrate(path: String, upTo version: String) throws {
        try CatalogMigrations.migrator.migrate(DatabaseQueue(path: path), upTo: version)
    }

    // Every access from async code goes through GRDB's async API
    // (`try await pool.read/write`): its synchronous calls park the calling
    // thread until a connection is free, and on Swift's cooperative pool the
    // tasks that would free one may never get a thread back (the hub hung
    // for good that way under 32 concurrent requests).

    /// `?, ?, …`: the parameters of an `IN (…)` list of `count` values.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    /// The names of the migrations applied to this catalog, oldest first.
    public func appliedMigrations() async throws -> [String] {
        try await pool.read { db in try CatalogMigrations.migrator.appliedMigrations(db) }
    }

    /// Checkpoints the WAL and closes the file; the pool is unusable afterwards.
    /// It waits for every connection: from async code, call it through
    /// `BlockingPool.shared.run`.
    public func close() throws {
        try pool.writeWithoutTransaction { db in
            _ = try db.checkpoint(.truncate)
        }
        try pool.close()
    }
}

extension CatalogDatabase {
    /// Row counts of every table: a cheap fingerprint for "nothing changed".
    public func rowCounts() async throws -> [String: Int] {
        try await pool.read { db in
            let tables = try String.fetchAll(db, sql: """
                SELECT name FROM sqlite_master WHERE type = 'table'
                AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'
                """)
            var counts: [String: Int] = [:]
            for table in tables {
                counts[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table.quotedDatabaseIdentifier)") ?? 0
            }
            return counts
        }
    }
}
