import Foundation
import GRDB
import SendenseCore

/// A repository the hub writes backups into. `path` is where its files are
/// on the hub: the folder itself for `local`, the mount point for `nfs`/`cifs`.
public struct RepositoryRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "repositories"

    public var id: Int64?
    public var name: String
    public var type: RepositoryKind
    public var path: String
    /// The id written in the repository's own `repository.json`.
    public var repositoryUuid: String
    public var nfsServer: String?
    public var nfsExport: String?
    public var cifsShare: String?
    public var username: String?
    /// AES-GCM sealed box; never leaves the hub in clear.
    public var passwordEncrypted: Data?
    public var mountOptions: String?
    public var enabled: Bool
    public var immutable: Bool
    /// Restore points younger than this many days cannot be deleted or merged.
    public var immutableDays: Int?
    public var createdAt: Date

    public init(
        name: String, type: RepositoryKind, path: String, repositoryUuid: String,
        nfsServer: String? = nil, nfsExport: String? = nil, cifsShare: String? = nil,
        username: String? = nil, passwordEncrypted: Data? = nil, mountOptions: String? = nil,
        enabled: Bool = true, immutable: Bool = false, createdAt: Date = Date()
    ) {
        self.name = name
        self.type = type
        self.path = path
        self.repositoryUuid = repositoryUuid
        self.nfsServer = nfsServer
        self.nfsExport = nfsExport
        self.cifsShare = cifsShare
        self.username = username
        self.passwordEncrypted = passwordEncrypted
        self.mountOptions = mountOptions
        self.enabled = enabled
        self.immutable = immutable
        self.createdAt = createdAt
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    enum CodingKeys: String, CodingKey {
        case id
        case name
        case type
        case path
        case repositoryUuid = "repository_uuid"
        case nfsServer = "nfs_server"
        case nfsExport = "nfs_export"
        case cifsShare = "cifs_share"
        case username
        case passwordEncrypted = "password_encrypted"
        case mountOptions = "mount_options"
        case enabled
        case immutable
        case immutableDays = "immutable_days"
        case createdAt = "created_at"
    }
}

extension CatalogDatabase {
    public func repositories() async throws -> [RepositoryRecord] {
        try await pool.read { db in try RepositoryRecord.order(Column("id")).fetchAll(db) }
    }

    public func repository(id: Int64) async throws -> RepositoryRecord? {
        try await pool.read { db in try RepositoryRecord.fetchOne(db, key: id) }
    }

    public func insertRepository(_ repository: RepositoryRecord) async throws -> RepositoryRecord {
        try await pool.write { db in
            var repository = repository
            if try RepositoryRecord.filter(Column("name") == repository.name).fetchCount(db) > 0 {
                throw CatalogError.conflict("a repository named \(repository.name) already exists")
            }
            try mapUniqueViolation("a repository at \(repository.path) already exists") {
                try repository.insert(db)
            }
            return repository
        }
    }

    /// Completed backups per repository id (repositories with none are absent).
    public func backupCounts() async throws -> [Int64: Int] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT repository_id, COUNT(*) AS n FROM backup_jobs
                WHERE status = 'completed' GROUP BY repository_id
                """)
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["repository_id"], $0["n"]) })
        }
    }

    /// Deletes a repository row, refused while any backup (of any status)
    /// still refers to it or a protection flow writes into it; checked in the
    /// same transaction as the delete.
    public func deleteRepository(id: Int64) async throws {
        try await pool.write { db in
            guard let repository = try RepositoryRecord.fetchOne(db, key: id) else {
                throw CatalogError.notFound("repository not found: id=\(id)")
            }
            let backups = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM backup_jobs WHERE repository_id = ?", arguments: [id]) ?? 0
            if backups > 0 {
                throw CatalogError.refused("repository \(repository.name) still holds \(backups) backup(s); delete them first")
            }
            let flows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM protection_flows WHERE repository_id = ?", arguments: [id]) ?? 0
            if flows > 0 {
                throw CatalogError.refused("repository \(repository.name) is the target of \(flows) protection flow(s); change them first")
            }
            try db.execute(sql: "DELETE FROM vm_backup_contexts WHERE repository_id = ?", arguments: [id])
            try repository.delete(db)
        }
    }
}

extension CatalogDatabase {
    /// Backup jobs per status, for the metrics gauges.
    public func backupJobCountsByStatus() async throws -> [String: Int] {
        try await pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT status, COUNT(*) AS n FROM backup_jobs GROUP BY status")
            return Dictionary(uniqueKeysWithValues: rows.map { ($0["status"], $0["n"]) })
        }
    }
}
