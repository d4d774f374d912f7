import Foundation
import SendenseCore

/// `POST /vm-contexts`: a VM made of image files.
public struct NewVMContextRequest: Codable, Sendable {
    public struct Source: Codable, Sendable {
        public struct Disk: Codable, Sendable {
            public var path: String
            public var label: String?

            public init(path: String, label: String?) {
                self.path = path
                self.label = label
            }
        }

        /// `qemu_image` (its `disks`) or `qmp` (its `socket`); VMware VMs and libvirt domains are added through discovery.
        public var type: String
        public var disks: [Disk]?
        /// The QMP socket of a running QEMU (`qmp`).
        public var socket: String?
        /// The host end of its guest agent's channel (`qmp`, optional): backups freeze the guest's filesystems.
        public var agentSocket: String?

        public init(type: String, disks: [Disk]? = nil, socket: String? = nil, agentSocket: String? = nil) {
            self.type = type
            self.disks = disks
            self.socket = socket
            self.agentSocket = agentSocket
        }

        enum CodingKeys: String, CodingKey {
            case type, disks, socket, agentSocket = "agent_socket"
        }
    }

    public var vmName: String
    public var source: Source

    public init(vmName: String, source: Source) {
        self.vmName = vmName
        self.source = source
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", source
    }
}

/// A VM as API.md shows it. Absent values are sent as null, not left out:
/// clients written against the contract expect every key.
public struct VMContextResponse: Codable, Sendable {
    public var contextId: String
    public var vmName: String
    public var sourceType: SourceKind
    @Nullable public var vmPath: String?
    @Nullable public var vcenterHost: String?
    @Nullable public var datacenter: String?
    public var currentStatus: String
    @Nullable public var cpuCount: Int?
    @Nullable public var memoryMb: Int?
    @Nullable public var osType: String?
    @Nullable public var powerState: String?
    @Nullable public var credentialId: Int64?
    @Nullable public var lastBackupAt: Date?
    public var createdAt: Date

    public init(contextId: String, vmName: String, sourceType: SourceKind, vmPath: String?, vcenterHost: String?, datacenter: String?,
                currentStatus: String, cpuCount: Int?, memoryMb: Int?, osType: String?, powerState: String?, credentialId: Int64?,
                lastBackupAt: Date?, createdAt: Date) {
        self.contextId = contextId
        self.vmName = vmName
        self.sourceType = sourceType
        self.vmPath = vmPath
        self.vcenterHost = vcenterHost
        self.datacenter = datacenter
        self.currentStatus = currentStatus
        self.cpuCount = cpuCount
        self.memoryMb = memoryMb
        self.osType = osType
        self.powerState = powerState
        self.credentialId = credentialId
        self.lastBackupAt = lastBackupAt
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case contextId = "context_id", vmName = "vm_name", vmPath = "vm_path", vcenterHost = "vcenter_host"
        case datacenter, currentStatus = "current_status", cpuCount = "cpu_count", memoryMb = "memory_mb"
        case osType = "os_type", powerState = "power_state", credentialId = "credential_id"
        case lastBackupAt = "last_backup_at", createdAt = "created_at", sourceType = "source_type"
    }
}

public struct VMContextListResponse: Codable, Sendable {
    public var vmContexts: [VMContextResponse]
    /// VMs in this answer.
    public var count: Int
    /// VMs in the catalog (more than `count` when the request asked for a page).
    public var totalCount: Int

    public init(vmContexts: [VMContextResponse], count: Int, totalCount: Int) {
        self.vmContexts = vmContexts
        self.count = count
        self.totalCount = totalCount
    }

    enum CodingKeys: String, CodingKey {
        case vmContexts = "vm_contexts", count, totalCount = "total_count"
    }
}

public struct DiskResponse: Codable, Sendable {
    public var diskIndex: Int
    public var vmwareDiskKey: Int?
    public var label: String
    /// Whole GiB, rounded up.
    public var sizeGb: Int64
    public var capacityBytes: Int64
    public var datastore: String?
    public var path: String

    public init(diskIndex: Int, vmwareDiskKey: Int?, label: String, capacityBytes: Int64, datastore: String?, path: String) {
        self.diskIndex = diskIndex
        self.vmwareDiskKey = vmwareDiskKey
        self.label = label
        self.sizeGb = wholeGibibytes(capacityBytes)
        self.capacityBytes = capacityBytes
        self.datastore = datastore
        self.path = path
    }

    enum CodingKeys: String, CodingKey {
        case diskIndex = "disk_index", vmwareDiskKey = "vmware_disk_key", label, sizeGb = "size_gb", capacityBytes = "capacity_bytes"
        case datastore, path
    }
}

public struct DiskListResponse: Codable, Sendable {
    public var vmName: String
    public var disks: [DiskResponse]
    public var totalDisks: Int

    public init(vmName: String, disks: [DiskResponse], totalDisks: Int) {
        self.vmName = vmName
        self.disks = disks
        self.totalDisks = totalDisks
    }

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", disks, totalDisks = "total_disks"
    }
}
