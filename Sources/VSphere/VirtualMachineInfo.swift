/// A VM as discovery sees it: everything Sendense records, from one
/// property retrieval.
public struct VirtualMachineInfo: Sendable, Equatable {
    public var moref: String
    public var name: String
    public var instanceUuid: String?
    public var vmxPath: String?
    public var datacenter: String?
    public var host: String?
    public var powerState: String?
    public var cpuCount: Int?
    public var memoryMB: Int?
    public var guestId: String?
    public var guestFullName: String?
    public var changeTrackingEnabled: Bool
    public var isTemplate: Bool
    public var disks: [VirtualDiskInfo]

    /// `windows`, `linux` or `other`, from the guest id vSphere reports.
    public var osType: String? {
        guard let guestId = guestId?.lowercased() else { return nil }
        if guestId.hasPrefix("win") { return "windows" }
        let unix = ["linux", "rhel", "centos", "debian", "ubuntu", "sles", "suse", "oracle", "fedora", "rocky", "alma",
                    "photon", "coreos", "asianux", "mandrake", "mandriva", "turbolinux", "amazonlinux", "other3xlinux",
                    "other4xlinux", "other5xlinux", "other26xlinux", "other24xlinux", "otherlinux", "genericlinux"]
        return unix.contains { guestId.hasPrefix($0) } ? "linux" : "other"
    }
}

/// A virtual disk (VirtualDisk device) of a VM or of a snapshot's config.
public struct VirtualDiskInfo: Sendable, Equatable, Codable {
    public var key: Int
    public var label: String
    public var capacityBytes: Int64
    /// `[datastore1] vm/vm.vmdk`
    public var fileName: String
    public var thinProvisioned: Bool?
    /// The CBT change id of this disk at this point (a snapshot's config), when tracking is on.
    public var changeId: String?
    /// The disk is a delta of another (the VM has snapshots): its data is not in this file alone.
    public var hasParent: Bool

    /// `datastore1` from `[datastore1] vm/vm.vmdk`.
    public var datastoreName: String? {
        guard fileName.hasPrefix("["), let close = fileName.firstIndex(of: "]") else { return nil }
        return String(fileName[fileName.index(after: fileName.startIndex)..<close])
    }

    /// `vm/vm.vmdk` from `[datastore1] vm/vm.vmdk`.
    public var relativePath: String {
        guard let close = fileName.firstIndex(of: "]") else { return fileName }
        return String(fileName[fileName.index(after: close)...].drop { $0 == " " })
    }

    /// The flat extent holding a flat disk's data: `vm/vm-flat.vmdk` for `vm/vm.vmdk`.
    public var flatExtentPath: String {
        let path = relativePath
        guard path.hasSuffix(".vmdk") else { return path }
        return String(path.dropLast(5)) + "-flat.vmdk"
    }

    /// A VirtualDisk device's size: `capacityInBytes`, or `capacityInKB` from vCenters that give only that.
    static func capacity(of device: SOAPElement) -> Int64 {
        device.int64("capacityInBytes") ?? device.int64("capacityInKB").map { $0 * 1024 } ?? 0
    }

    /// Disks among `config.hardware.device` (an ArrayOfVirtualDevice).
    public static func disks(in devices: SOAPElement?) -> [VirtualDiskInfo] {
        guard let devices else { return [] }
        return devices.children.compactMap { device in
            guard device.type == "VirtualDisk", let key = device.int("key") else { return nil }
            let backing = device["backing"]
            return VirtualDiskInfo(
                key: key, label: device["deviceInfo"]?.text("label") ?? "Hard disk",
                capacityBytes: capacity(of: device), fileName: backing?.text("fileName") ?? "",
                thinProvisioned: backing?.bool("thinProvisioned"),
                changeId: backing?.text("changeId").flatMap { $0.isEmpty ? nil : $0 },
                hasParent: backing?["parent"] != nil)
        }
    }
}

/// An area CBT reports: `start` and `length` in bytes.
public struct ChangedArea: Sendable, Equatable {
    public var start: UInt64
    public var length: UInt64
    public init(start: UInt64, length: UInt64) {
        self.start = start
        self.length = length
    }
}

/// One answer of QueryChangedDiskAreas (DiskChangeInfo): the areas within
/// `startOffset ..< startOffset + length` that changed.
public struct DiskChangeInfo: Sendable, Equatable {
    public var startOffset: UInt64
    public var length: UInt64
    public var areas: [ChangedArea]

    public static func parse(_ element: SOAPElement) throws -> DiskChangeInfo {
        guard let start = element.int64("startOffset"), let length = element.int64("length"), start >= 0, length >= 0 else {
            throw VSphereError.badResponse("DiskChangeInfo without startOffset and length")
        }
        let areas = try element.all("changedArea").map { area in
            guard let offset = area.int64("start"), let size = area.int64("length"), offset >= 0, size >= 0 else {
                throw VSphereError.badResponse("a changedArea without start and length")
            }
            return ChangedArea(start: UInt64(offset), length: UInt64(size))
        }
        return DiskChangeInfo(startOffset: UInt64(start), length: UInt64(length), areas: areas)
    }
}
