import Foundation
import GRDB

/// A VM restore: the domain it defines from a restore point and the files
/// it writes, or the VM it creates in vCenter. Its job-history row (same
/// id) has its state and progress.
public struct VMRestoreRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "vm_restores"

    /// One disk's restored file.
    public struct Disk: Codable, Sendable, Equatable {
        /// The guest's name for it (`vda`).
        public var target: String
        public var diskIndex: Int
        public var path: String

        public init(target: String, diskIndex: Int, path: String) {
            self.target = target
            self.diskIndex = diskIndex
            self.path = path
        }

        enum CodingKeys: String, CodingKey {
            case target, diskIndex = "disk_index", path
        }
    }

    /// Where in vCenter a VM restore creates its VM.
    public struct VCenterTarget: Codable, Sendable, Equatable {
        public var credentialId: Int64
        public var datacenter: String
        /// The ESXi host's name as vCenter knows it.
        public var host: String
        public var datastore: String
        /// The VM's managed object id, once vCenter has created it.
        public var vmMoref: String?

        public init(credentialId: Int64, datacenter: String, host: String, datastore: String, vmMoref: String? = nil) {
            self.credentialId = credentialId
            self.datacenter = datacenter
            self.host = host
            self.datastore = datastore
            self.vmMoref = vmMoref
        }

        enum CodingKeys: String, CodingKey {
            case credentialId = "credential_id", datacenter, host, datastore, vmMoref = "vm_moref"
        }
    }

    public var jobId: String
    public var backupId: String
    public var vmName: String
    public var domainName: String
    /// Set once the domain is defined (a vCenter VM's instance UUID once created).
    public var domainUuid: String?
    /// The libvirt the domain is defined in; nil for a restore into vCenter.
    public var libvirtUri: String?
    /// Where in vCenter; nil for a restore into libvirt.
    public var vcenter: VCenterTarget?
    /// The storage pool the disks went into, if one was asked for.
    public var storagePool: String?
    /// nil: NICs as stored; `none`; or a libvirt network.
    public var network: String?
    public var keepMacs: Bool
    public var start: Bool
    public var disks: [Disk]
    /// Its outcome is final: kept (the job completed) or removed (it failed).
    /// Until then a hub restart removes what it wrote.
    public var settled: Bool
    public var createdAt: Date

    public init(jobId: String, backupId: String, vmName: String, domainName: String, libvirtUri: String?, vcenter: VCenterTarget? = nil,
                storagePool: String?, network: String?, keepMacs: Bool, start: Bool, disks: [Disk], createdAt: Date = Date()) {
        self.jobId = jobId
        self.backupId = backupId
        self.vmName = vmName
        self.domainName = domainName
        self.libvirtUri = libvirtUri
        self.vcenter = vcenter
        self.storagePool = storagePool
        self.network = network
        self.keepMacs = keepMacs
        self.start = start
        self.disks = disks
        self.settled = false
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id"
        case backupId = "backup_id"
        case vmName = "vm_name"
        case domainName = "domain_name"
        case domainUuid = "domain_uuid"
        case libvirtUri = "libvirt_uri"
        case vcenter = "vcenter_json"
        case storagePool = "storage_pool"
        case network
        case keepMacs = "keep_macs"
        case start
        case disks = "disks_json"
        case settled
        case createdAt = "created_at"
    }
}

extension CatalogDatabase {
    public func saveVMRestore(_ record: VMRestoreRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.save(db)
        }
    }

    public func vmRestore(jobID: String) async throws -> VMRestoreRecord? {
        try await pool.read { db in try VMRestoreRecord.fetchOne(db, key: jobID) }
    }

    /// Restores whose files and domain are not yet kept or removed for good.
    public func unsettledVMRestores() async throws -> [VMRestoreRecord] {
        try await pool.read { db in try VMRestoreRecord.fetchAll(db, sql: "SELECT * FROM vm_restores WHERE settled = 0") }
    }
}
