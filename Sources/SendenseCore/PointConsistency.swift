/// What a restore point's disks hold, as far as the guest's own writes go.
public enum PointConsistency: String, Codable, Sendable, CaseIterable {
    /// The VM was not running: its disks were at rest.
    case poweredOff = "powered_off"
    /// The guest agent flushed and froze the guest's filesystems for the
    /// instant of the checkpoint: every filesystem is clean.
    case applicationConsistent = "application_consistent"
    /// Taken from a running guest without its help: what a power cut
    /// leaves (journals replay; applications recover as after a crash).
    case crashConsistent = "crash_consistent"
}

/// A VM's configuration as its hypervisor describes it, kept with every
/// backup so the VM (not only its disks) can be recreated.
public struct VMConfiguration: Codable, Sendable, Equatable {
    public enum Format: String, Codable, Sendable {
        /// libvirt's domain XML (`virsh dumpxml`).
        case libvirtDomainXML = "libvirt_domain_xml"
        /// What a QEMU says of itself through QMP (JSON: query-cpus-fast, -memory-size-summary, -block, -pci, -name, -uuid).
        case qemuQMP = "qemu_qmp"
        /// A VMware VM's hardware read from its snapshot (JSON: CPU, memory, firmware, guest id, controllers, NICs, disks).
        case vmwareHardware = "vmware_hardware"
    }

    public var format: Format
    public var document: String

    public init(format: Format, document: String) {
        self.format = format
        self.document = document
    }
}
