import Foundation
import NBD
import SendenseCore

/// A running QEMU reached through its QMP socket (plain QEMU, a Proxmox VE
/// guest): persistent dirty bitmaps `sendense-<backup_id>` on each disk's
/// format node, a point in time taken by image fleecing (a qcow2 overlay
/// whose backing is the live disk, filled by a `blockdev-backup sync=none`
/// job before the guest overwrites anything), exported by QEMU's own NBD
/// server on a unix socket, all begun in one QMP transaction (the guest's
/// filesystems frozen around it when its agent answers on `agentSocket`) and
/// torn down whatever happens (`QMPSession`).
public struct QMPSource: BackupSource {
    /// What the catalog keeps of the VM: its QMP socket and which disks are backed up.
    public struct Reference: Sendable, Codable, Equatable {
        public var socket: String
        /// The host end of the guest agent's channel (`-chardev socket,…` for
        /// `org.qemu.guest_agent.0`): when it answers, backups are application-consistent.
        public var agentSocket: String?
        public var disks: [Disk]

        public init(socket: String, agentSocket: String? = nil, disks: [Disk]) {
            self.socket = socket
            self.agentSocket = agentSocket
            self.disks = disks
        }
    }

    public struct Disk: Sendable, Codable, Equatable {
        public var index: Int
        /// The block device's name (`drive-scsi0`, `virtio0`), or its qdev path when it has none.
        public var device: String

        public init(index: Int, device: String) {
            self.index = index
            self.device = device
        }
    }

    /// A block device as `query-block` shows it.
    public struct BlockDevice: Sendable, Decodable {
        public struct Inserted: Sendable, Decodable {
            public var nodeName: String
            public var readOnly: Bool
            public var image: Image
            public var dirtyBitmaps: [Bitmap]?

            enum CodingKeys: String, CodingKey {
                case nodeName = "node-name", readOnly = "ro", image, dirtyBitmaps = "dirty-bitmaps"
            }
        }

        public struct Image: Sendable, Decodable {
            public var virtualSize: UInt64
            public var format: String
            public var filename: String

            enum CodingKeys: String, CodingKey { case virtualSize = "virtual-size", format, filename }
        }

        public struct Bitmap: Sendable, Decodable {
            public var name: String
            public var recording: Bool
            public var persistent: Bool
            public var inconsistent: Bool?
        }

        public var device: String
        public var qdev: String?
        public var removable: Bool
        public var inserted: Inserted?

        /// How Sendense names it: the device name, else its qdev path.
        public var name: String { device.isEmpty ? (qdev ?? "") : device }
    }

    public let reference: Reference
    /// Names the folders QEMU works in for this hub's sessions (as for libvirt).
    public let runDirectory: String

    public init(reference: Reference, runDirectory: String) {
        self.reference = reference
        self.runDirectory = runDirectory
    }

    /// The block devices of the QEMU behind `socket`.
    public static func blockDevices(_ qmp: QMPConnection) async throws -> [BlockDevice] {
        try await qmp.execute("query-block", as: [BlockDevice].self)
    }

    public func disks() async throws -> [SourceDisk] {
        let qmp = try await QMPConnection.open(reference.socket)
        return try chosen(in: try await Self.blockDevices(qmp)).map { disk, device in
            SourceDisk(index: disk.index, label: disk.device, capacityBytes: device.inserted?.image.virtualSize ?? 0,
                       location: device.inserted?.image.filename ?? "")
        }
    }

    /// Each backed-up disk with its block device now.
    func chosen(in devices: [BlockDevice]) throws -> [(Disk, BlockDevice)] {
        try reference.disks.map { disk in
            guard let device = devices.first(where: { $0.name == disk.device }), device.inserted != nil else {
                throw SourceError.diskNotFound("\(disk.device) of the QEMU at \(reference.socket) (removed, or its medium ejected)")
            }
            return (disk, device)
        }
    }

    /// Undoes what a session of `backupID` left in this QEMU when its hub
    /// died: exports, the NBD server, jobs and overlays go; then each disk's
    /// bitmaps are made whole again. `committed`: that backup is the one the
    /// next incremental starts from, so its bitmap stays and the parent's
    /// (disabled) goes; otherwise its bitmap is merged into the disabled
    /// parent's, which records again. Answers what it did.
    public func recover(backupID: String, committed: Bool) async throws -> [String] {
        let qmp = try await QMPConnection.open(reference.socket, timeout: .seconds(10))
        let names = QMPSession.Names(backupID: backupID)
        let indexes = reference.disks.map(\.index)
        // The NBD server is the killed session's unless it serves exports of another tool.
        struct Export: Decodable { var id: String }
        let exports = (try? await qmp.execute("query-block-exports", as: [Export].self)) ?? []
        let ours = Set(indexes.map { names.export($0) })
        let serving = !exports.contains { !ours.contains($0.id) }
        await QMPSession.tearDown(qmp: qmp, disks: indexes, fleeces: indexes, names: names, serving: serving)
        var done = ["ended the exports, jobs and overlays of backup \(backupID) in the QEMU at \(reference.socket)"]
        let checkpoint = Self.checkpointName(for: backupID)
        for (disk, device) in try chosen(in: try await Self.blockDevices(qmp)) {
            guard let inserted = device.inserted, let bitmaps = inserted.dirtyBitmaps,
                  bitmaps.contains(where: { $0.name == checkpoint }) else { continue }
            let parents = bitmaps.filter { $0.name.hasPrefix(QemuImageSource.checkpointPrefix) && $0.name != checkpoint && !$0.recording }
            if committed {
                for parent in parents { _ = try? await qmp.execute("block-dirty-bitmap-remove", ["node": inserted.nodeName, "name": parent.name]) }
            } else if let parent = parents.first {
                try await QMPSession.giveBack(checkpoint, to: parent.name, node: inserted.nodeName, qmp: qmp)
            } else {
                _ = try? await qmp.execute("block-dirty-bitmap-remove", ["node": inserted.nodeName, "name": checkpoint])
            }
            done.append(committed ? "kept bitmap \(checkpoint) of \(disk.device), removed its parent's"
                                  : "gave the changes of bitmap \(checkpoint) of \(disk.device) back to its parent's")
        }
        return done
    }

    public static func checkpointName(for backupID: String) -> String { QemuImageSource.checkpointName(for: backupID) }

    public func withSession<Result: Sendable>(
        backupID: String, parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let qmp = try await QMPConnection.open(reference.socket)
        return try await QMPSession(source: self, qmp: qmp, backupID: backupID)
            .run(parentCheckpoints: parentCheckpoints, replacing: obsolete, body)
    }
}
