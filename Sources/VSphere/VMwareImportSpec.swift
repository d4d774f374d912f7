/// A VM to create from kept hardware: its name, a note, which NICs go on
/// which network, and whether the MAC addresses are kept. Written as the
/// `configSpec` of a VirtualMachineImportSpec (elements in XSD order:
/// vCenter rejects others).
public struct VMwareImportSpec: Sendable {
    public var name: String
    public var annotation: String
    public var hardware: VMwareHardware
    /// The NICs to create (by their key in `hardware`) and their network; NICs not listed are left out.
    public var networks: [Int: VMwareNetwork]
    public var keepMACs: Bool

    public init(name: String, annotation: String, hardware: VMwareHardware, networks: [Int: VMwareNetwork], keepMACs: Bool) {
        self.name = name
        self.annotation = annotation
        self.hardware = hardware
        self.networks = networks
        self.keepMACs = keepMACs
    }

    /// New devices get negative keys (vCenter assigns the real ones); a disk
    /// names its controller by the new key. IDE controllers are not created:
    /// every VM has its two (keys 200 and 201).
    func configSpecXML(datastore: String) -> String {
        var controllerKeys: [Int: Int] = [:]
        var devices: [String] = []
        for (position, controller) in hardware.controllers.enumerated() {
            if controller.type == "VirtualIDEController" {
                controllerKeys[controller.key] = 200 + controller.busNumber
                continue
            }
            let key = -100 - position
            controllerKeys[controller.key] = key
            var body = SOAP.element("key", String(key)) + SOAP.element("busNumber", String(controller.busNumber))
            if VMwareHardware.scsiControllerTypes.contains(controller.type) {
                body += SOAP.element("sharedBus", controller.sharedBus ?? "noSharing")
            }
            devices.append(Self.add(type: controller.type, body))
        }
        for (position, nic) in hardware.nics.enumerated() {
            guard let network = networks[nic.key] else { continue }
            let backing: String
            switch network {
            case .standard(let name, let reference):
                backing = "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\">" + SOAP.element("deviceName", name)
                    + SOAP.reference("network", reference) + "</backing>"
            case .distributed(_, let portgroupKey, let switchUuid):
                backing = "<backing xsi:type=\"VirtualEthernetCardDistributedVirtualPortBackingInfo\"><port>"
                    + SOAP.element("switchUuid", switchUuid) + SOAP.element("portgroupKey", portgroupKey) + "</port></backing>"
            }
            var body = SOAP.element("key", String(-2000 - position)) + backing
                + "<connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl><connected>false</connected></connectable>"
            if keepMACs, let mac = nic.macAddress {
                body += SOAP.element("addressType", "manual") + SOAP.element("macAddress", mac)
            } else {
                body += SOAP.element("addressType", "generated")
            }
            devices.append(Self.add(type: nic.type, body))
        }
        for (position, disk) in hardware.disks.enumerated() {
            let backing = "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\">" + SOAP.element("fileName", "[\(datastore)]")
                + SOAP.element("diskMode", "persistent") + SOAP.element("thinProvisioned", disk.thinProvisioned == false ? "false" : "true")
                + "</backing>"
            let body = SOAP.element("key", String(-1000 - position)) + backing
                + SOAP.element("controllerKey", String(controllerKeys[disk.controllerKey] ?? disk.controllerKey))
                + SOAP.element("unitNumber", String(disk.unitNumber))
                + SOAP.element("capacityInKB", String((disk.capacityBytes + 1023) / 1024))
                + SOAP.element("capacityInBytes", String(disk.capacityBytes))
            devices.append(Self.add(type: "VirtualDisk", body, fileOperation: "create"))
        }
        var spec = SOAP.element("name", name)
        if let version = hardware.version { spec += SOAP.element("version", version) }
        if let guestId = hardware.guestId { spec += SOAP.element("guestId", guestId) }
        spec += SOAP.element("annotation", annotation)
        spec += "<files>" + SOAP.element("vmPathName", "[\(datastore)]") + "</files>"
        spec += SOAP.element("numCPUs", String(hardware.cpuCount))
        if let cores = hardware.coresPerSocket { spec += SOAP.element("numCoresPerSocket", String(cores)) }
        spec += SOAP.element("memoryMB", String(hardware.memoryMB))
        spec += devices.joined()
        if let firmware = hardware.firmware { spec += SOAP.element("firmware", firmware) }
        return "<configSpec>" + spec + "</configSpec>"
    }

    private static func add(type: String, _ body: String, fileOperation: String? = nil) -> String {
        "<deviceChange>" + SOAP.element("operation", "add") + (fileOperation.map { SOAP.element("fileOperation", $0) } ?? "")
            + "<device xsi:type=\"\(SOAP.escape(type))\">" + body + "</device></deviceChange>"
    }
}
