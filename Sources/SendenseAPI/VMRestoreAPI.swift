import Foundation
import SendenseCore

/// Where a VM restore makes the VM.
public enum VMRestoreTargetType: String, Codable, Sendable, CaseIterable {
    case libvirt
    case vcenter
}

/// `POST /restore/vm`: a restore point's VM as a new libvirt domain with
/// disks of its own, or as a new VM in vCenter.
public struct VMRestoreRequest: Codable, Sendable {
    /// Where the VM is defined and its disks written: this host's libvirt, or a vCenter.
    public struct Target: Codable, Sendable {
        /// `libvirt` (the default) or `vcenter`.
        public var type: String?
        /// `qemu:///system` (the default) or `qemu:///session`.
        public var uri: String?
        /// An existing folder outside the repositories and the hub's data dir; each disk becomes `<domain>-<disk>.qcow2` in it.
        public var directory: String?
        /// Or a libvirt storage pool whose volumes are files (dir, fs, netfs): the disks go into its folder.
        public var pool: String?
        /// vcenter: the stored vCenter credential to create the VM with.
        public var credentialId: Int64?
        /// vcenter: the ESXi host (as vCenter names it); absent: the first connected host that sees the datastore.
        public var host: String?
        /// vcenter: the datastore the VM's files and disks go to.
        public var datastore: String?

        public init(type: String? = "libvirt", uri: String? = nil, directory: String? = nil, pool: String? = nil,
                    credentialId: Int64? = nil, host: String? = nil, datastore: String? = nil) {
            self.type = type
            self.uri = uri
            self.directory = directory
            self.pool = pool
            self.credentialId = credentialId
            self.host = host
            self.datastore = datastore
        }

        enum CodingKeys: String, CodingKey {
            case type, uri, directory, pool, credentialId = "credential_id", host, datastore
        }
    }

    public var backupId: String
    public var target: Target
    /// The new domain's name (default `<vm>-restored-<id>`).
    public var name: String?
    /// `none`: no NIC; a network's name (libvirt network, or vCenter port group): every NIC on it; absent: as stored.
    public var network: String?
    /// Keep the original's MAC addresses (a VM that replaces the lost original); default false: new ones.
    public var keepMacs: Bool?
    /// Start (power on) the VM once it is defined; default false.
    public var start: Bool?

    public init(backupId: String, target: Target, name: String? = nil, network: String? = nil, keepMacs: Bool? = nil, start: Bool? = nil) {
        self.backupId = backupId
        self.target = target
        self.name = name
        self.network = network
        self.keepMacs = keepMacs
        self.start = start
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", target, name, network, keepMacs = "keep_macs", start
    }
}

/// A VM restore job, as it runs and once it has ended.
public struct VMRestoreResponse: Codable, Sendable {
    public struct Disk: Codable, Sendable {
        /// The guest's name for it (`vda`).
        public var target: String
        public var diskIndex: Int
        /// The qcow2 file it is restored to (vCenter: the datastore it is uploaded to, `[datastore1]`).
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

    /// Where in vCenter a restore creates its VM.
    public struct VCenter: Codable, Sendable {
        public var credentialId: Int64
        public var datacenter: String
        public var host: String
        public var datastore: String
        /// The new VM's managed object id, once vCenter created it.
        @Nullable public var vmMoref: String?

        public init(credentialId: Int64, datacenter: String, host: String, datastore: String, vmMoref: String?) {
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
    /// The VM the restore point is of.
    public var vmName: String
    /// The new VM's name (a libvirt domain, or a vCenter VM).
    public var domainName: String
    /// Set once the domain is defined (vCenter: the VM's instance UUID once created).
    @Nullable public var domainUuid: String?
    /// `libvirt` or `vcenter`.
    public var targetType: VMRestoreTargetType
    /// null for a vCenter restore.
    @Nullable public var libvirtUri: String?
    /// null for a libvirt restore.
    @Nullable public var vcenter: VCenter?
    @Nullable public var pool: String?
    @Nullable public var network: String?
    public var keepMacs: Bool
    public var start: Bool
    public var disks: [Disk]
    /// `in_progress` while it runs, then `completed`, `failed` or `cancelled`.
    public var status: BackupStatus
    public var bytesDone: UInt64
    public var totalBytes: UInt64
    public var progressPercent: Double
    @Nullable public var errorMessage: String?
    public var createdAt: Date
    @Nullable public var completedAt: Date?

    public init(jobId: String, backupId: String, vmName: String, domainName: String, domainUuid: String?, libvirtUri: String?,
                vcenter: VCenter? = nil, pool: String?,
                network: String?, keepMacs: Bool, start: Bool, disks: [Disk], status: BackupStatus, bytesDone: UInt64, totalBytes: UInt64,
                progressPercent: Double, errorMessage: String?, createdAt: Date, completedAt: Date?) {
        self.jobId = jobId
        self.backupId = backupId
        self.vmName = vmName
        self.domainName = domainName
        self.domainUuid = domainUuid
        self.targetType = vcenter == nil ? .libvirt : .vcenter
        self.libvirtUri = libvirtUri
        self.vcenter = vcenter
        self.pool = pool
        self.network = network
        self.keepMacs = keepMacs
        self.start = start
        self.disks = disks
        self.status = status
        self.bytesDone = bytesDone
        self.totalBytes = totalBytes
        self.progressPercent = progressPercent
        self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id", backupId = "backup_id", vmName = "vm_name", domainName = "domain_name", domainUuid = "domain_uuid"
        case targetType = "target_type", libvirtUri = "libvirt_uri", vcenter, pool, network, keepMacs = "keep_macs", start, disks, status, bytesDone = "bytes_done"
        case totalBytes = "total_bytes", progressPercent = "progress_percent", errorMessage = "error_message"
        case createdAt = "created_at", completedAt = "completed_at"
    }
}
