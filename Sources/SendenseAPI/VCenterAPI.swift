import Foundation

/// A vCenter credential as a client sends it; on PUT every field is optional
/// and a missing password keeps the stored one.
public struct VMwareCredentialRequest: Codable, Sendable {
    public var name: String?
    public var vcenterHost: String?
    public var vcenterPort: Int?
    public var username: String?
    public var password: String?
    public var datacenter: String?
    public var thumbprint: String?
    public var insecure: Bool?
    /// `https`, `vddk` or `ssh`.
    public var transport: String?

    public init(name: String? = nil, vcenterHost: String? = nil, vcenterPort: Int? = nil, username: String? = nil, password: String? = nil,
                datacenter: String? = nil, thumbprint: String? = nil, insecure: Bool? = nil, transport: String? = nil) {
        self.name = name
        self.vcenterHost = vcenterHost
        self.vcenterPort = vcenterPort
        self.username = username
        self.password = password
        self.datacenter = datacenter
        self.thumbprint = thumbprint
        self.insecure = insecure
        self.transport = transport
    }

    enum CodingKeys: String, CodingKey {
        case name, username, password, datacenter, thumbprint, insecure, transport
        case vcenterHost = "vcenter_host", vcenterPort = "vcenter_port"
    }
}

/// A stored credential: never the password, not even sealed.
public struct VMwareCredentialResponse: Codable, Sendable {
    public var id: Int64
    public var name: String
    public var vcenterHost: String
    public var vcenterPort: Int
    public var username: String
    @Nullable public var datacenter: String?
    @Nullable public var thumbprint: String?
    public var insecure: Bool
    public var transport: String
    public var vmCount: Int
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: Int64, name: String, vcenterHost: String, vcenterPort: Int, username: String, datacenter: String?, thumbprint: String?,
                insecure: Bool, transport: String, vmCount: Int, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.name = name
        self.vcenterHost = vcenterHost
        self.vcenterPort = vcenterPort
        self.username = username
        self.datacenter = datacenter
        self.thumbprint = thumbprint
        self.insecure = insecure
        self.transport = transport
        self.vmCount = vmCount
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, username, datacenter, thumbprint, insecure, transport
        case vcenterHost = "vcenter_host", vcenterPort = "vcenter_port", vmCount = "vm_count"
        case createdAt = "created_at", updatedAt = "updated_at"
    }
}

public struct VMwareCredentialListResponse: Codable, Sendable {
    public var credentials: [VMwareCredentialResponse]
    public var count: Int

    public init(credentials: [VMwareCredentialResponse], count: Int) {
        self.credentials = credentials
        self.count = count
    }
}

/// `POST /vmware-credentials/{id}/test`: a refusal is an answer, not an error.
public struct CredentialTestResponse: Codable, Sendable {
    public var success: Bool
    public var message: String
    public var vmCount: Int?
    public var vcenterVersion: String?

    public init(success: Bool, message: String, vmCount: Int?, vcenterVersion: String?) {
        self.success = success
        self.message = message
        self.vmCount = vmCount
        self.vcenterVersion = vcenterVersion
    }

    enum CodingKeys: String, CodingKey {
        case success, message, vmCount = "vm_count", vcenterVersion = "vcenter_version"
    }
}

/// `POST /discovery/discover-vms`.
public struct DiscoverRequest: Codable, Sendable {
    public var credentialId: Int64
    /// A name pattern (`*`, `?`, `[…]`) or a part of a name.
    public var filter: String?
    /// Also add (or update) every listed VM.
    public var createContext: Bool?

    public init(credentialId: Int64, filter: String?, createContext: Bool?) {
        self.credentialId = credentialId
        self.filter = filter
        self.createContext = createContext
    }

    enum CodingKeys: String, CodingKey {
        case credentialId = "credential_id", filter, createContext = "create_context"
    }
}

/// `POST /discovery/add-vms`.
public struct AddVMsRequest: Codable, Sendable {
    public var credentialId: Int64
    public var vmNames: [String]

    public init(credentialId: Int64, vmNames: [String]) {
        self.credentialId = credentialId
        self.vmNames = vmNames
    }

    enum CodingKeys: String, CodingKey {
        case credentialId = "credential_id", vmNames = "vm_names"
    }
}

public struct DiscoveredDiskResponse: Codable, Sendable {
    public var vmwareDiskKey: Int
    public var label: String
    public var capacityBytes: Int64
    public var sizeGb: Int64
    @Nullable public var datastore: String?
    public var path: String
    @Nullable public var thinProvisioned: Bool?

    public init(vmwareDiskKey: Int, label: String, capacityBytes: Int64, datastore: String?, path: String, thinProvisioned: Bool?) {
        self.vmwareDiskKey = vmwareDiskKey
        self.label = label
        self.capacityBytes = capacityBytes
        self.sizeGb = wholeGibibytes(capacityBytes)
        self.datastore = datastore
        self.path = path
        self.thinProvisioned = thinProvisioned
    }

    enum CodingKeys: String, CodingKey {
        case label, datastore, path
        case vmwareDiskKey = "vmware_disk_key", capacityBytes = "capacity_bytes", sizeGb = "size_gb", thinProvisioned = "thin_provisioned"
    }
}

/// A VM as vCenter describes it, and whether Sendense already protects it.
public struct DiscoveredVMResponse: Codable, Sendable {
    public var name: String
    public var moref: String
    @Nullable public var instanceUuid: String?
    @Nullable public var vmPath: String?
    @Nullable public var datacenter: String?
    @Nullable public var host: String?
    @Nullable public var powerState: String?
    @Nullable public var cpuCount: Int?
    @Nullable public var memoryMb: Int?
    @Nullable public var osType: String?
    @Nullable public var guestOs: String?
    public var cbtEnabled: Bool
    public var disks: [DiscoveredDiskResponse]
    public var totalCapacityBytes: Int64
    /// The VM context that already holds this VM, if any.
    @Nullable public var contextId: String?

    public init(name: String, moref: String, instanceUuid: String?, vmPath: String?, datacenter: String?, host: String?,
                powerState: String?, cpuCount: Int?, memoryMb: Int?, osType: String?, guestOs: String?, cbtEnabled: Bool,
                disks: [DiscoveredDiskResponse], contextId: String?) {
        self.name = name
        self.moref = moref
        self.instanceUuid = instanceUuid
        self.vmPath = vmPath
        self.datacenter = datacenter
        self.host = host
        self.powerState = powerState
        self.cpuCount = cpuCount
        self.memoryMb = memoryMb
        self.osType = osType
        self.guestOs = guestOs
        self.cbtEnabled = cbtEnabled
        self.disks = disks
        self.totalCapacityBytes = disks.reduce(0) { $0 + $1.capacityBytes }
        self.contextId = contextId
    }

    enum CodingKeys: String, CodingKey {
        case name, moref, host, disks, datacenter
        case instanceUuid = "instance_uuid", vmPath = "vm_path", powerState = "power_state", cpuCount = "cpu_count"
        case memoryMb = "memory_mb", osType = "os_type", guestOs = "guest_os", cbtEnabled = "cbt_enabled"
        case totalCapacityBytes = "total_capacity_bytes", contextId = "context_id"
    }
}

public struct DiscoverResponse: Codable, Sendable {
    public var discoveredVms: [DiscoveredVMResponse]
    public var count: Int
    public var durationMs: Int
    /// VM contexts created or updated when create_context was true.
    public var added: Int?

    public init(discoveredVms: [DiscoveredVMResponse], count: Int, durationMs: Int, added: Int?) {
        self.discoveredVms = discoveredVms
        self.count = count
        self.durationMs = durationMs
        self.added = added
    }

    enum CodingKeys: String, CodingKey {
        case discoveredVms = "discovered_vms", count, durationMs = "duration_ms", added
    }
}

public struct AddVMsResponse: Codable, Sendable {
    public var added: [VMContextResponse]
    public var count: Int

    public init(added: [VMContextResponse], count: Int) {
        self.added = added
        self.count = count
    }
}
