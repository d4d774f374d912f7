import Foundation

/// `POST /discovery/libvirt/discover-vms`: the domains of a libvirt host.
public struct LibvirtDiscoverRequest: Codable, Sendable {
    /// `qemu:///system` (the default), `qemu:///session`, or `qemu+ssh://[user@]host[:port]/system[?keyfile=PATH]`.
    public var uri: String?
    /// A name pattern (`*`, `?`, `[…]`), or a part of the name.
    public var filter: String?

    public init(uri: String? = nil, filter: String? = nil) {
        self.uri = uri
        self.filter = filter
    }
}

public struct LibvirtDiskResponse: Codable, Sendable {
    public var target: String
    @Nullable public var path: String?
    @Nullable public var format: String?
    @Nullable public var capacityBytes: UInt64?
    /// Why the disk cannot be backed up; null when it can.
    @Nullable public var problem: String?

    public init(target: String, path: String?, format: String?, capacityBytes: UInt64?, problem: String?) {
        self.target = target
        self.path = path
        self.format = format
        self.capacityBytes = capacityBytes
        self.problem = problem
    }

    enum CodingKeys: String, CodingKey {
        case target, path, format, problem
        case capacityBytes = "capacity_bytes"
    }
}

public struct LibvirtDomainResponse: Codable, Sendable {
    public var name: String
    public var uuid: String
    /// `poweredOn` (running or paused) or `poweredOff`, as VM contexts say it.
    public var powerState: String
    public var cpuCount: Int
    public var memoryMb: Int
    /// `bios` or `efi`.
    public var firmware: String
    public var disks: [LibvirtDiskResponse]
    /// The VM context of this domain, when it was added.
    @Nullable public var contextId: String?

    public init(name: String, uuid: String, powerState: String, cpuCount: Int, memoryMb: Int, firmware: String,
                disks: [LibvirtDiskResponse], contextId: String?) {
        self.name = name
        self.uuid = uuid
        self.powerState = powerState
        self.cpuCount = cpuCount
        self.memoryMb = memoryMb
        self.firmware = firmware
        self.disks = disks
        self.contextId = contextId
    }

    enum CodingKeys: String, CodingKey {
        case name, uuid, firmware, disks
        case powerState = "power_state", cpuCount = "cpu_count", memoryMb = "memory_mb", contextId = "context_id"
    }
}

public struct LibvirtDiscoverResponse: Codable, Sendable {
    public var uri: String
    public var domains: [LibvirtDomainResponse]
    public var count: Int
    public var durationMs: Int

    public init(uri: String, domains: [LibvirtDomainResponse], count: Int, durationMs: Int) {
        self.uri = uri
        self.domains = domains
        self.count = count
        self.durationMs = durationMs
    }

    enum CodingKeys: String, CodingKey {
        case uri, domains, count
        case durationMs = "duration_ms"
    }
}

/// `POST /discovery/libvirt/add-vms`: VM contexts for these domains (named
/// as the domains); adding a domain again refreshes its context. Answers `AddVMsResponse`.
public struct LibvirtAddVMsRequest: Codable, Sendable {
    public var uri: String?
    public var domains: [String]

    public init(uri: String? = nil, domains: [String]) {
        self.uri = uri
        self.domains = domains
    }
}
