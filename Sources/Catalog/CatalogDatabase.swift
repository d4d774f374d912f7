import Foundation
import GRDB

/// The hub's SQLite catalog: an index of users, sources, repositories and
/// backups. WAL mode (a `DatabasePool`), foreign keys enforced, schema moved
/// forward by versioned migrations. Everything needed to restore also lives in
/// the repositories, so this file can be rebuilt from them.
public final class CatalogDatabase: Sendable {
    public let pool: DatabasePool
    public let path: String

    public init(path: String) throws {
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
    }

    /// The names of the migrations applied to this catalog, oldest first.
    public func appliedMigrations() throws -> [String] {
        try pool.read { db in try CatalogMigrations.migrator.appliedMigrations(db) }
    }

    /// A cheap round trip that proves the file is readable.
    public func ping() throws {
        _ = try pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    /// Checkpoints the WAL and closes the file; the pool is unusable afterwards.
    public func close() throws {
        try pool.writeWithoutTransaction { db in
            _ = try db.checkpoint(.truncate)
        }
        try pool.close()
    }
}
