import Foundation
import GRDB
import SendenseCore

/// A protected (or discovered) VM: where it comes from and what it looks like.
public struct VMContextRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "vm_contexts"
    /// Every column, in the table's order: rows are read by position (`OrderedColumns`).
    public static var databaseSelection: [any SQLSelectable] { CodingKeys.allCases.map { Column($0.rawValue) } }

    public var contextId: String
    public var vmName: String
    /// `vmware` or `qemu_image`.
    public var sourceType: SourceKind
    /// Source-specific details (disk image paths, moref, …) as JSON.
    public var sourceJson: String?
    public var vmPath: String?
    public var vcenterHost: String?
    public var datacenter: String?
    public var moref: String?
    public var instanceUuid: String?
    public var currentStatus: String
    public var cpuCount: Int?
    public var memoryMb: Int?
    public var osType: String?
    public var powerState: String?
    public var credentialId: Int64?
    public var lastBackupAt: Date?
    public var createdAt: Date
    public var updatedAt: Date

    public init(contextId: String, vmName: String, sourceType: SourceKind, now: Date = Date()) {
        self.contextId = contextId
        self.vmName = vmName
        self.sourceType = sourceType
        self.currentStatus = "ready"
        self.createdAt = now
        self.updatedAt = now
    }

    /// Read column by column rather than through `Decodable`, whose keyed lookups took a third of the
    /// time a list of a thousand took to answer; by position (`OrderedColumns`).
    public init(row: Row) throws {
        var columns = OrderedColumns<CodingKeys>(row)
        contextId = try columns.next(.contextId)
        vmName = try columns.next(.vmName)
        sourceType = try columns.next(.sourceType)
        sourceJson = try columns.next(.sourceJson)
        vmPath = try columns.next(.vmPath)
        vcenterHost = try columns.next(.vcenterHost)
        datacenter = try columns.next(.datacenter)
        moref = try columns.next(.moref)
        instanceUuid = try columns.next(.instanceUuid)
        currentStatus = try columns.next(.currentStatus)
        cpuCount = try columns.next(.cpuCount)
        memoryMb = try columns.next(.memoryMb)
        osType = try columns.next(.osType)
        powerState = try columns.next(.powerState)
        credentialId = try columns.next(.credentialId)
        lastBackupAt = try columns.next(.lastBackupAt)
        createdAt = try columns.next(.createdAt)
        updatedAt = try columns.next(.updatedAt)
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case contextId = "context_id"
        case vmName = "vm_name"
        case sourceType = "source_type"
        case sourceJson = "source_json"
        case vmPath = "vm_path"
        case vcenterHost = "vcenter_host"
        case datacenter
        case moref
        case instanceUuid = "instance_uuid"
        case currentStatus = "current_status"
        case cpuCount = "cpu_count"
        case memoryMb = "memory_mb"
        case osType = "os_type"
        case powerState = "power_state"
        case credentialId = "credential_id"
        case lastBackupAt = "last_backup_at"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

public struct VMDiskRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "vm_disks"

    public var id: Int64?
    public var contextId: String
    public var diskIndex: Int
    public var vmwareDiskKey: Int?
    public var label: String
    public var capacityBytes: Int64
    public var datastore: String?
    public var path: String

    public init(contextId: String, diskIndex: Int, label: String, capacityBytes: Int64, path: String) {
        self.contextId = contextId
        self.diskIndex = diskIndex
        self.label = label
        self.capacityBytes = capacityBytes
        self.path = path
    }

    public mutating func didInsert(_ inserted: InsertionSuccess) {
        id = inserted.rowID
    }

    enum CodingKeys: String, CodingKey {
        case id
        case contextId = "context_id"
        case diskIndex = "disk_index"
        case vmwareDiskKey = "vmware_disk_key"
        case label
        case capacityBytes = "capacity_bytes"
        case datastore
        case path
    }
}

extension CatalogDatabase {
    public func vmContexts() async throws -> [VMContextRecord] {
        try await pool.read { db in try VMContextRecord.order(Column("vm_name")).fetchAll(db) }
    }

    /// A page of the VMs by name (all from `offset` when `limit` is nil), and how many there are.
    public func vmContexts(limit: Int?, offset: Int) async throws -> (page: [VMContextRecord], total: Int) {
        try await pool.read { db in
            let page = try VMContextRecord.order(Column("vm_name")).limit(limit ?? -1, offset: offset).fetchAll(db)
            return (page, try VMContextRecord.fetchCount(db))
        }
    }

    public func vmContext(named name: String) async throws -> VMContextRecord? {
        try await pool.read { db in try VMContextRecord.filter(Column("vm_name") == name).fetchOne(db) }
    }

    public func disks(ofContext contextID: String) async throws -> [VMDiskRecord] {
        try await pool.read { db in
            try VMDiskRecord.filter(Column("context_id") == contextID).order(Column("disk_index")).fetchAll(db)
        }
    }

    /// Inserts a VM context with its disks in one transaction: either all of
    /// it is recorded or nothing is.
    public func insertVMContext(_ context: VMContextRecord, disks: [VMDiskRecord]) async throws {
        try await pool.write { db in
            var context = context
            try mapUniqueViolation("a VM named \(context.vmName) already exists") {
                try context.insert(db)
            }
            for var disk in disks {
                try disk.insert(db)
            }
        }
    }

    /// Updates a VM context and replaces its disks in one transaction.
    public func updateVMContext(_ context: VMContextRecord, disks: [VMDiskRecord]) async throws {
        try await pool.write { db in
            try context.update(db)
            try VMDiskRecord.filter(Column("context_id") == context.contextId).deleteAll(db)
            for var disk in disks {
                try disk.insert(db)
            }
        }
    }
}

extension CatalogDatabase {
    /// Records a VM found in vCenter: the existing context of that VM (same
    /// instance uuid, or else moref, on the same vCenter) is updated in place
    /// so its chains continue, else a new one is added. A disk keeps its
    /// index as long as its device key exists; new disks get the next index.
    /// Answers the stored contexts; all VMs are recorded, or none.
    public func saveDiscoveredVMs(_ vms: [(VMContextRecord, [VMDiskRecord])]) async throws -> [VMContextRecord] {
        try await pool.write { db in try vms.map { try Self.saveDiscoveredVM($0.0, disks: $0.1, db) } }
    }

    private static func saveDiscoveredVM(_ found: VMContextRecord, disks: [VMDiskRecord], _ db: Database) throws -> VMContextRecord {
        var existing: VMContextRecord?
        if let uuid = found.instanceUuid {
            existing = try VMContextRecord.filter(Column("source_type") == "vmware" && Column("instance_uuid") == uuid
                && Column("vcenter_host") == found.vcenterHost).fetchOne(db)
        }
        if existing == nil, let moref = found.moref {
            existing = try VMContextRecord.filter(Column("source_type") == "vmware" && Column("moref") == moref
                && Column("vcenter_host") == found.vcenterHost).fetchOne(db)
        }
        guard var context = existing else {
            var context = found
            try mapUniqueViolation("a VM named \(found.vmName) already exists (another source or vCenter)") { try context.insert(db) }
            for (index, var disk) in disks.enumerated() {
                disk.contextId = context.contextId
                disk.diskIndex = index
                try disk.insert(db)
            }
            return context
        }
        context.sourceJson = found.sourceJson
        context.vmPath = found.vmPath
        context.datacenter = found.datacenter
        context.moref = found.moref
        context.instanceUuid = found.instanceUuid
        context.cpuCount = found.cpuCount
        context.memoryMb = found.memoryMb
        context.osType = found.osType
        context.powerState = found.powerState
        context.credentialId = found.credentialId
        context.updatedAt = found.updatedAt
        try context.update(db)

        let old = try VMDiskRecord.filter(Column("context_id") == context.contextId).fetchAll(db)
        var indexByKey: [Int: Int] = [:]
        for disk in old { if let key = disk.vmwareDiskKey { indexByKey[key] = disk.diskIndex } }
        var nextIndex = (old.map(\.diskIndex).max() ?? -1) + 1
        try VMDiskRecord.filter(Column("context_id") == context.contextId).deleteAll(db)
        for var disk in disks {
            disk.id = nil
            disk.contextId = context.contextId
            if let key = disk.vmwareDiskKey, let index = indexByKey[key] {
                disk.diskIndex = index
            } else {
                disk.diskIndex = nextIndex
                nextIndex += 1
            }
            try disk.insert(db)
        }
        return context
    }

    /// VMware VMs that use a credential.
    public func vmContexts(credentialID: Int64) async throws -> [VMContextRecord] {
        try await pool.read { db in
            try VMContextRecord.filter(Column("credential_id") == credentialID).order(Column("vm_name")).fetchAll(db)
        }
    }
}
