import Foundation
import GRDB

/// How the hub reaches one vCenter: its address, account (password sealed
/// with the hub's key), certificate trust and disk transport.
public struct VMwareCredentialRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "vmware_credentials"

    public var id: Int64?
    public var name: String
    public var vcenterHost: String
    public var vcenterPort: Int
    public var username: String
    /// AES-GCM sealed box; never leaves the hub in clear.
    public var passwordEncrypted: Data
    public var datacenter: String?
    /// SHA-1 or SHA-256 thumbprint the vCenter certificate must have.
    public var thumbprint: String?
    public var insecure: Bool
    /// `vddk`, `https` or `ssh`.
    public var transport: String
    public var createdAt: Date
    public var updatedAt: Date

    public init(name: String, vcenterHost: String, vcenterPort: Int, username: String, passwordEncrypted: Data,
                datacenter: String?, thumbprint: String?, insecure: Bool, transport: String, now: Date = Date()) {
        self.name = name
        self.vcenterHost = vcenterHost
        self.vcenterPort = vcenterPort
        self.username = username
        self.passwordEncrypted = passwordEncrypted
        self.datacenter = datacenter
        self.thumbprint = thumbprint
        self.insecure = insecure
        self.transport = transport
        self.createdAt = now
        self.updatedAt = now
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    enum CodingKeys: String, CodingKey {
        case id
        case name
        case vcenterHost = "vcenter_host"
        case vcenterPort = "vcenter_port"
        case username
        case passwordEncrypted = "password_encrypted"
        case datacenter
        case thumbprint
        case insecure
        case transport
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

extension CatalogDatabase {
    public func vmwareCredentials() async throws -> [VMwareCredentialRecord] {
        try await pool.read { db in try VMwareCredentialRecord.order(Column("name")).fetchAll(db) }
    }

    public func vmwareCredential(id: Int64) async throws -> VMwareCredentialRecord? {
        try await pool.read { db in try VMwareCredentialRecord.fetchOne(db, key: id) }
    }

    public func insertVMwareCredential(_ record: VMwareCredentialRecord) async throws -> VMwareCredentialRecord {
        try await pool.write { db in
            var record = record
            try mapUniqueViolation("a vCenter credential named \(record.name) already exists") { try record.insert(db) }
            return record
        }
    }

    public func updateVMwareCredential(_ record: VMwareCredentialRecord) async throws {
        try await pool.write { db in
            try mapMissingRow("vCenter credential not found: id=\(record.id ?? 0)") {
                try mapUniqueViolation("a vCenter credential named \(record.name) already exists") { try record.update(db) }
            }
        }
    }

    /// Deletes a credential; its VMs stay, with no credential (their backups then fail with that reason).
    @discardableResult
    public func deleteVMwareCredential(id: Int64) async throws -> Bool {
        try await pool.write { db in try VMwareCredentialRecord.deleteOne(db, key: id) }
    }
}
