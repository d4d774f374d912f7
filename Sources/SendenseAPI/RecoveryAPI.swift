import Foundation
import SendenseCore

/// `POST /recoveries`: run a restore point's VM now, from the backup itself.
public struct RecoveryRequest: Codable, Sendable {
    /// Where the VM runs: this host's libvirt daemon.
    public struct Target: Codable, Sendable {
        /// `libvirt` (the only kind today, and the default).
        public var type: String?
        /// `qemu:///system` (the default) or `qemu:///session`.
        public var uri: String?

        public init(type: String? = "libvirt", uri: String? = nil) {
            self.type = type
            self.uri = uri
        }
    }

    public var backupId: String
    public var target: Target?
    /// The new domain's name (default `<vm>-recovered-<id>`).
    public var name: String?
    /// `none`: no NIC; a libvirt network's name: every NIC on it; absent: as stored (new MAC addresses either way).
    public var network: String?

    public init(backupId: String, target: Target? = nil, name: String? = nil, network: String? = nil) {
        self.backupId = backupId
        self.target = target
        self.name = name
        self.network = network
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", target, name, network
    }
}

/// `POST /recoveries/{id}/migrate`: where the recovered VM's disks go for good.
public struct RecoveryMigrateRequest: Codable, Sendable {
    /// An existing folder outside the repositories and the hub's data dir; each disk becomes `<domain>-<disk>.qcow2` in it.
    public var directory: String

    public init(directory: String) { self.directory = directory }
}

/// An instant recovery session.
public struct RecoveryResponse: Codable, Sendable {
    public var recoveryId: String
    public var backupId: String
    /// The VM the restore point is of.
    public var vmName: String
    public var domainName: String
    @Nullable public var domainUuid: String?
    public var libvirtUri: String
    @Nullable public var network: String?
    public var state: RecoveryState
    /// How its domain stands now (`running`, `shut off`); null once ended or when libvirt cannot say.
    @Nullable public var vmState: RecoveredVMState?
    /// Where a migration copies (or copied) its disks.
    @Nullable public var migratedTo: String?
    @Nullable public var errorMessage: String?
    public var createdAt: Date
    @Nullable public var endedAt: Date?

    public init(recoveryId: String, backupId: String, vmName: String, domainName: String, domainUuid: String?, libvirtUri: String,
                network: String?, state: RecoveryState, vmState: RecoveredVMState?, migratedTo: String?, errorMessage: String?, createdAt: Date,
                endedAt: Date?) {
        self.recoveryId = recoveryId
        self.backupId = backupId
        self.vmName = vmName
        self.domainName = domainName
        self.domainUuid = domainUuid
        self.libvirtUri = libvirtUri
        self.network = network
        self.state = state
        self.vmState = vmState
        self.migratedTo = migratedTo
        self.errorMessage = errorMessage
        self.createdAt = createdAt
        self.endedAt = endedAt
    }

    enum CodingKeys: String, CodingKey {
        case recoveryId = "recovery_id", backupId = "backup_id", vmName = "vm_name", domainName = "domain_name"
        case domainUuid = "domain_uuid", libvirtUri = "libvirt_uri", network, state, vmState = "vm_state", migratedTo = "migrated_to"
        case errorMessage = "error_message", createdAt = "created_at", endedAt = "ended_at"
    }
}

public struct RecoveryListResponse: Codable, Sendable {
    public var recoveries: [RecoveryResponse]
    public var count: Int

    public init(recoveries: [RecoveryResponse], count: Int) {
        self.recoveries = recoveries
        self.count = count
    }
}
