/// Where a VM's disks are read from.
public enum SourceKind: String, Codable, Sendable, CaseIterable {
    /// A vSphere VM, read through a snapshot with CBT (nbdkit over NFC/NBD).
    case vmware
    /// QEMU disk images on the hub's host, read through qemu-nbd with persistent dirty bitmaps.
    case qemuImage = "qemu_image"
    /// A libvirt domain: running, through libvirt's pull-mode backup and
    /// checkpoints; stopped, through its image files.
    case libvirt
    /// A running QEMU reached through its QMP socket (plain QEMU, Proxmox VE):
    /// persistent bitmaps, image fleecing, QEMU's own NBD export.
    case qmp
}
