import Foundation
import GRDB
import SendenseCore

/// An instant recovery: a VM started from a restore point, its disks served
/// by a process of the hub's (`server_pid`) from overlays in `folder`, which
/// take its writes; `work_folder` holds what the VM's QEMU reaches (the disk
/// server's socket, the serial console's log).
public struct RecoveryRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "recoveries"

    public var recoveryId: String
    public var backupId: String
    /// The VM the restore point is of.
    public var vmName: String
    /// The domain started from it.
    public var domainName: String
    public var domainUuid: String?
    public var libvirtUri: String
    /// Where its NICs are attached: nil as in the stored configuration, `none`, or a libvirt network.
    public var network: String?
    public var state: RecoveryState
    public var folder: String
    public var workFolder: String
    public var serverPid: Int32?
    /// The server's kernel start time: a reused PID is never taken for it.
    public var serverStartTime: Int64?
    /// The folder its disks were copied to by a migration.
    public var migratedTo: String?
    public var errorMessage: String?
    public var createdAt: Date
    public var endedAt: Date?

    public init(recoveryId: String, backupId: String, vmName: String, domainName: String, libvirtUri: String, network: String?,
                folder: String, workFolder: String, createdAt: Date = Date()) {
        self.recoveryId = recoveryId
        self.backupId = backupId
        self.vmName = vmName
        self.domainName = domainName
        self.libvirtUri = libvirtUri
        self.network = network
        self.state = .starting
        self.folder = folder
        self.workFolder = workFolder
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case recoveryId = "recovery_id"
        case backupId = "backup_id"
        case vmName = "vm_name"
        case domainName = "domain_name"
        case domainUuid = "domain_uuid"
        case libvirtUri = "libvirt_uri"
        case network, state, folder
        case workFolder = "work_folder"
        case serverPid = "server_pid"
        case serverStartTime = "server_start_time"
        case migratedTo = "migrated_to"
        case errorMessage = "error_message"
        case createdAt = "created_at"
        case endedAt = "ended_at"
    }
}

extension CatalogDatabase {
    public func saveRecovery(_ record: RecoveryRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.save(db)
        }
    }

    public func recovery(id: String) async throws -> RecoveryRecord? {
        try await pool.read { db in try RecoveryRecord.fetchOne(db, key: id) }
    }

    /// Sessions that hold their restore point and files (starting, running, migrating, stopping).
    public func activeRecoveries() async throws -> [RecoveryRecord] {
        try await pool.read { db in
            try RecoveryRecord.fetchAll(db, sql: "SELECT * FROM recoveries WHERE state IN ('starting', 'running', 'migrating', 'stopping') ORDER BY created_at")
        }
    }

    /// The active ones and the newest `limit` others, newest first.
    public func recentRecoveries(limit: Int) async throws -> [RecoveryRecord] {
        try await pool.read { db in try Self.recentRecoveries(db, limit: limit) }
    }

    static func recentRecoveries(_ db: Database, limit: Int) throws -> [RecoveryRecord] {
        try RecoveryRecord.fetchAll(db, sql: """
            SELECT * FROM recoveries WHERE state IN ('starting', 'running', 'migrating', 'stopping')
            UNION
            SELECT * FROM (SELECT * FROM recoveries ORDER BY created_at DESC, recovery_id DESC LIMIT ?)
            ORDER BY created_at DESC, recovery_id DESC
            """, arguments: [limit])
    }

    /// Whether a domain name is held by an active session or by a VM restore
    /// that has not settled (on any host: these names are the hub's to hand out).
    public func domainNameHeld(_ name: String) async throws -> Bool {
        try await pool.read { db in
            try Bool.fetchOne(db, sql: """
                SELECT EXISTS (SELECT 1 FROM recoveries WHERE domain_name = ? AND state IN ('starting', 'running', 'migrating', 'stopping'))
                    OR EXISTS (SELECT 1 FROM vm_restores WHERE domain_name = ? AND settled = 0)
                """, arguments: [name, name]) ?? false
        }
    }
}
