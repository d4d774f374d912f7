import BackupSources
import Catalog
import Foundation
import SendenseCore

/// VMs of a running QEMU reached through its QMP socket (plain QEMU, a
/// Proxmox VE guest's `/var/run/qemu-server/<vmid>.qmp`): registering one,
/// and the source its context describes.
public enum QMPInventory {
    /// Registers the QEMU behind `socket`: every writable block device with a
    /// medium becomes a disk (a CD-ROM is read-only, an empty drive has no medium).
    /// `agentSocket`: the host end of its guest agent's channel, which must
    /// accept a connection (an agent not answering yet is fine: its backups
    /// say they are crash-consistent until it does).
    public static func register(name: String, socket: String, agentSocket: String? = nil, catalog: CatalogDatabase) async throws -> VMContextRecord {
        if let problem = NameRules.problem(with: name, field: "vm_name") { throw VMRegistrationError.invalid(problem) }
        for (field, path) in [("socket", socket), ("agent_socket", agentSocket)] {
            guard let path else { continue }
            guard path.isAbsolutePath, !path.utf8.contains(0), path.utf8.count < 108 else {
                throw VMRegistrationError.invalid("source.\(field) must be the absolute path of a unix socket (under 108 bytes)")
            }
        }
        if let agentSocket {
            do {
                _ = try await QMPConnection.openGuestAgent(agentSocket, timeout: .seconds(2))
            } catch let error as QMPConnection.Failure where error.command == "connect" {
                throw VMRegistrationError.sourceUnreachable("the guest agent socket \(error.message)")
            } catch {}
        }
        let devices: [QMPSource.BlockDevice]
        do {
            devices = try await QMPSource.blockDevices(try await QMPConnection.open(socket, timeout: .seconds(10)))
        } catch let error as QMPConnection.Failure {
            throw VMRegistrationError.sourceUnreachable(error.description)
        }
        let usable = devices.filter { $0.inserted != nil && $0.inserted?.readOnly == false && !$0.name.isEmpty }
        guard !usable.isEmpty else { throw VMRegistrationError.unusableDisk("the QEMU at \(socket) has no writable disk") }
        if try await catalog.vmContext(named: name) != nil { throw VMRegistrationError.nameTaken(name) }
        let reference = QMPSource.Reference(socket: socket, agentSocket: agentSocket, disks: usable.enumerated().map { .init(index: $0.offset, device: $0.element.name) })
        let now = Date()
        var context = VMContextRecord(contextId: VMInventory.contextID(for: name, at: now), vmName: name, sourceType: .qmp, now: now)
        context.vmPath = socket
        context.powerState = "poweredOn"
        context.sourceJson = String(decoding: try JSONEncoder().encode(reference), as: UTF8.self)
        let rows = zip(reference.disks, usable).map { disk, device in
            VMDiskRecord(contextId: context.contextId, diskIndex: disk.index, label: disk.device,
                         capacityBytes: Int64(clamping: device.inserted?.image.virtualSize ?? 0), path: device.inserted?.image.filename ?? "")
        }
        try await catalog.insertVMContext(context, disks: rows)
        return context
    }

    /// The source a QMP VM context describes, for the disks chosen.
    public static func source(for context: VMContextRecord, disks: [VMDiskRecord], runDirectory: String) throws -> QMPSource {
        guard let reference = context.sourceJson.flatMap(decode) else {
            throw BackupError.sourceUnavailable("VM \(context.vmName) records no QMP socket; register it again")
        }
        let chosen = Set(disks.map(\.diskIndex))
        return QMPSource(reference: .init(socket: reference.socket, agentSocket: reference.agentSocket,
                                          disks: reference.disks.filter { chosen.contains($0.index) }),
                         runDirectory: runDirectory)
    }

    static func decode(_ json: String) -> QMPSource.Reference? {
        try? JSONDecoder().decode(QMPSource.Reference.self, from: Data(json.utf8))
    }
}
