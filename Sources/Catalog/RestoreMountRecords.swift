import Foundation
import GRDB

/// A file-restore session as the catalog shows it. The open session itself
/// lives in the hub's memory; these rows let other tools see what is open and
/// are all removed when the hub starts, so none claims a session that is gone.
public struct RestoreMountRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "restore_mounts"

    public var mountId: String
    public var backupId: String
    public var backupDiskId: Int64
    public var diskIndex: Int
    public var filesystemType: String?
    public var status: String
    public var createdAt: Date
    public var lastUsedAt: Date
    public var expiresAt: Date

    public init(mountId: String, backupId: String, backupDiskId: Int64, diskIndex: Int, filesystemType: String?,
                createdAt: Date, expiresAt: Date) {
        self.mountId = mountId
        self.backupId = backupId
        self.backupDiskId = backupDiskId
        self.diskIndex = diskIndex
        self.filesystemType = filesystemType
        self.status = "mounted"
        self.createdAt = createdAt
        self.lastUsedAt = createdAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case mountId = "mount_id"
        case backupId = "backup_id"
        case backupDiskId = "backup_disk_id"
        case diskIndex = "disk_index"
        case filesystemType = "filesystem_type"
        case status
        case createdAt = "created_at"
        case lastUsedAt = "last_used_at"
        case expiresAt = "expires_at"
    }
}

extension CatalogDatabase {
    public func insertMount(_ record: RestoreMountRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.insert(db)
        }
    }

    public func touchMount(_ mountID: String, lastUsed: Date, expires: Date) async throws {
        try await pool.write { db in
            try db.execute(sql: "UPDATE restore_mounts SET last_used_at = ?, expires_at = ? WHERE mount_id = ?",
                           arguments: [lastUsed, expires, mountID])
        }
    }

    public func deleteMount(_ mountID: String) async throws {
        _ = try await pool.write { db in try RestoreMountRecord.deleteOne(db, key: mountID) }
    }

    /// At start: no session survives a hub process.
    @discardableResult
    public func deleteAllMounts() async throws -> Int {
        try await pool.write { db in try RestoreMountRecord.deleteAll(db) }
    }

    public func mounts() async throws -> [RestoreMountRecord] {
        try await pool.read { db in try RestoreMountRecord.order(Column("created_at")).fetchAll(db) }
    }
}
