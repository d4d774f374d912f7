import Foundation

/// What a VMware VM is made of, beyond its disks' data: what a backup keeps
/// so the VM can be created again (in the same vCenter or another). Read
/// from a snapshot's `config`, so it is the VM as it was at the point.
/// Stored as JSON in the manifest; decoded again by a VM restore.
public struct VMwareHardware: Codable, Sendable, Equatable {
    /// A storage controller: disks hang off one by its key.
    public struct Controller: Codable, Sendable, Equatable {
        public var key: Int
        /// The vim25 type: `ParaVirtualSCSIController`, `VirtualLsiLogicController`, `VirtualLsiLogicSASController`,
        /// `VirtualBusLogicController`, `VirtualAHCIController`, `VirtualNVMEController`, `VirtualIDEController`.
        public var type: String
        public var busNumber: Int
        /// SCSI bus sharing (`noSharing`, `virtualSharing`, `physicalSharing`); nil for other buses.
        public var sharedBus: String?

        public init(key: Int, type: String, busNumber: Int, sharedBus: String? = nil) {
            self.key = key
            self.type = type
            self.busNumber = busNumber
            self.sharedBus = sharedBus
        }

        enum CodingKeys: String, CodingKey {
            case key, type, busNumber = "bus_number", sharedBus = "shared_bus"
        }
    }

    /// A network card.
    public struct NIC: Codable, Sendable, Equatable {
        public var key: Int
        /// `VirtualVmxnet3`, `VirtualE1000`, `VirtualE1000e`, …
        public var type: String
        public var label: String
        /// The standard port group's name, or the distributed port group's key.
        public var network: String?
        /// The distributed switch's UUID when `network` is a distributed port group key.
        public var switchUuid: String?
        public var macAddress: String?
        /// `assigned`, `generated` or `manual`.
        public var addressType: String?

        public init(key: Int, type: String, label: String, network: String?, switchUuid: String? = nil, macAddress: String?,
                    addressType: String?) {
            self.key = key
            self.type = type
            self.label = label
            self.network = network
            self.switchUuid = switchUuid
            self.macAddress = macAddress
            self.addressType = addressType
        }

        enum CodingKeys: String, CodingKey {
            case key, type, label, network, switchUuid = "switch_uuid", macAddress = "mac_address", addressType = "address_type"
        }
    }

    /// A disk's place: which controller, which unit, how big.
    public struct Disk: Codable, Sendable, Equatable {
        public var key: Int
        public var label: String
        public var controllerKey: Int
        public var unitNumber: Int
        public var capacityBytes: Int64
        public var thinProvisioned: Bool?

        public init(key: Int, label: String, controllerKey: Int, unitNumber: Int, capacityBytes: Int64, thinProvisioned: Bool?) {
            self.key = key
            self.label = label
            self.controllerKey = controllerKey
            self.unitNumber = unitNumber
            self.capacityBytes = capacityBytes
            self.thinProvisioned = thinProvisioned
        }

        enum CodingKeys: String, CodingKey {
            case key, label, controllerKey = "controller_key", unitNumber = "unit_number", capacityBytes = "capacity_bytes"
            case thinProvisioned = "thin_provisioned"
        }
    }

    public var name: String
    public var guestId: String?
    /// `bios` or `efi`.
    public var firmware: String?
    /// `vmx-19`: the virtual hardware version.
    public var version: String?
    public var cpuCount: Int
    public var coresPerSocket: Int?
    public var memoryMB: Int
    public var controllers: [Controller]
    public var nics: [NIC]
    public var disks: [Disk]

    public init(name: String, guestId: String?, firmware: String?, version: String?, cpuCount: Int, coresPerSocket: Int?, memoryMB: Int,
                controllers: [Controller], nics: [NIC], disks: [Disk]) {
        self.name = name
        self.guestId = guestId
        self.firmware = firmware
        self.version = version
        self.cpuCount = cpuCount
        self.coresPerSocket = coresPerSocket
        self.memoryMB = memoryMB
        self.controllers = controllers
        self.nics = nics
        self.disks = disks
    }

    enum CodingKeys: String, CodingKey {
        case name, guestId = "guest_id", firmware, version, cpuCount = "cpu_count", coresPerSocket = "cores_per_socket"
        case memoryMB = "memory_mb", controllers, nics, disks
    }

    /// SCSI controllers: they carry a bus-sharing mode.
    static let scsiControllerTypes: Set<String> = [
        "ParaVirtualSCSIController", "VirtualLsiLogicController", "VirtualLsiLogicSASController", "VirtualBusLogicController",
    ]
    static let controllerTypes = scsiControllerTypes.union(["VirtualAHCIController", "VirtualNVMEController", "VirtualIDEController"])
    static let nicTypes: Set<String> = [
        "VirtualVmxnet3", "VirtualVmxnet3Vrdma", "VirtualVmxnet2", "VirtualVmxnet", "VirtualE1000", "VirtualE1000e", "VirtualPCNet32",
    ]

    /// The `config.…` properties `init(name:config:)` reads.
    static let configProperties = [
        "config.name", "config.guestId", "config.firmware", "config.version", "config.hardware.numCPU",
        "config.hardware.numCoresPerSocket", "config.hardware.memoryMB", "config.hardware.device",
    ]

    /// From the answers to `configProperties`. IDE controllers are kept (a
    /// disk may hang off one); other devices (CD-ROM, video, PS/2, PCI) are
    /// left to vCenter's defaults for the guest id.
    init(_ properties: [String: SOAPElement]) throws {
        guard let name = properties["config.name"]?.text, let cpus = properties["config.hardware.numCPU"].flatMap({ Int($0.text) }),
              let memory = properties["config.hardware.memoryMB"].flatMap({ Int($0.text) }) else {
            let missing = ["config.name", "config.hardware.numCPU", "config.hardware.memoryMB"].filter { properties[$0] == nil }
            throw VSphereError.badResponse("a VM configuration without " + missing.joined(separator: ", "))
        }
        var controllers: [Controller] = []
        var nics: [NIC] = []
        var disks: [Disk] = []
        for device in properties["config.hardware.device"]?.children ?? [] {
            guard let type = device.type, let key = device.int("key") else { continue }
            if Self.controllerTypes.contains(type) {
                controllers.append(Controller(key: key, type: type, busNumber: device.int("busNumber") ?? 0, sharedBus: device.text("sharedBus")))
            } else if Self.nicTypes.contains(type) {
                let backing = device["backing"]
                let port = backing?["port"]
                nics.append(NIC(key: key, type: type, label: device["deviceInfo"]?.text("label") ?? "Network adapter",
                                network: backing?.text("deviceName") ?? port?.text("portgroupKey"), switchUuid: port?.text("switchUuid"),
                                macAddress: device.text("macAddress"), addressType: device.text("addressType")))
            } else if type == "VirtualDisk", let controller = device.int("controllerKey") {
                disks.append(Disk(key: key, label: device["deviceInfo"]?.text("label") ?? "Hard disk", controllerKey: controller,
                                  unitNumber: device.int("unitNumber") ?? 0, capacityBytes: VirtualDiskInfo.capacity(of: device),
                                  thinProvisioned: device["backing"]?.bool("thinProvisioned")))
            }
        }
        self.init(name: name, guestId: properties["config.guestId"]?.text, firmware: properties["config.firmware"]?.text,
                  version: properties["config.version"]?.text, cpuCount: cpus,
                  coresPerSocket: properties["config.hardware.numCoresPerSocket"].flatMap { Int($0.text) }, memoryMB: memory,
                  controllers: controllers, nics: nics, disks: disks)
    }
}

extension VMwareHardware {
    /// As kept in a manifest (keys sorted: equal configurations read the same).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    public init(json: String) throws {
        self = try JSONDecoder().decode(VMwareHardware.self, from: Data(json.utf8))
    }
}

extension VSphereClient {
    /// A snapshot's VM configuration: its hardware and its disks (each with
    /// its change id at that point), in one retrieval.
    public func snapshotConfiguration(_ snapshot: ManagedObjectReference) async throws -> (hardware: VMwareHardware, disks: [VirtualDiskInfo]) {
        let properties = try await properties(of: snapshot, VMwareHardware.configProperties)
        return (try VMwareHardware(properties), VirtualDiskInfo.disks(in: properties["config.hardware.device"]))
    }
}
