import Foundation
import Libvirt
import NBD
import SendenseCore

/// One backup of a running libvirt domain: checkpoint and pull-mode backup
/// job begun together (the guest's filesystems frozen around that instant
/// when its agent answers), each disk read over QEMU's NBD export, then the
/// job ended and its folder removed whatever happened. The new checkpoint is
/// kept only when the backup committed; otherwise it is deleted, and libvirt
/// merges its bitmap back into the parent's, so nothing the guest wrote is lost
/// to the next incremental.
struct LiveBackup {
    let source: LibvirtSource
    let domain: LibvirtDomain
    let backupID: String

    func run<Result: Sendable>(
        parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let xml = try await domain.xml()
        let description = try DomainDescription(xml: xml)
        let disks = try source.chosen(in: description)
        let checkpoint = LibvirtSource.checkpointName(for: backupID)
        // On another host, QEMU's NBD server listens on that host's loopback and ssh brings it
        // here: the folder then holds the tunnel's socket, which is the hub's own.
        let remote = source.remote
        let folder = try QemuWorkFolder.make(runDirectory: source.runDirectory, backupID: backupID,
                                             owner: remote == nil ? description.processOwner : nil)
        defer { try? FileManager.default.removeItem(atPath: folder) }

        var plans = try await plan(disks, parents: parentCheckpoints)
        let tracked = disks.filter { $0.1.format == "qcow2" }.map(\.0.target)
        let allTargets = description.disks.map(\.target)
        let socket = folder + "/nbd.sock"
        let checkpointXML = tracked.isEmpty ? nil : BackupDocuments.checkpoint(name: checkpoint, disks: tracked, allDisks: allTargets)

        // Asked before the job begins: nothing may fail between its start and the `body` that ends it.
        var capacities: [UInt64] = []
        for (disk, _) in disks { capacities.append(try await domain.capacity(of: disk.target)) }

        // On another host: a port of its loopback, chosen here (libvirt 9 does not pick one), another one if it is taken.
        var port = remote == nil ? nil : Self.loopbackPort()
        func start() async throws {
            for attempt in 1... {
                do {
                    let document = backupXML(plans, allTargets: allTargets, socket: socket, folder: folder, port: port)
                    return try await domain.beginBackup(backupXML: document, checkpointXML: checkpointXML)
                } catch let error as LibvirtError where port != nil && attempt < 8 && error.message.contains("in use") {
                    port = Self.loopbackPort()
                }
            }
        }
        let (consistency, note) = try await GuestFreeze.around(domain) {
            do {
                try await start()
            } catch let error as LibvirtError where plans.contains(where: { $0.parent != nil }) {
                // A bitmap libvirt lists but QEMU finds missing or inconsistent: the chain goes on from a full copy.
                plans = plans.map { plan in
                    guard let parent = plan.parent else { return plan }
                    return Plan(disk: plan.disk, parent: nil, reason: "libvirt could not read the changes of \(plan.disk.target) since \(parent) (\(error.message))", hadParent: true)
                }
                try await start()
            }
        }

        let exports = zip(zip(disks, plans), capacities).map { pair, capacity in
            let ((disk, described), plan) = pair
            return DiskExport(
                disk: SourceDisk(index: disk.index, label: disk.target, capacityBytes: capacity, location: described.path ?? ""),
                endpoint: NBDEndpoint(transport: .unix(path: socket), exportName: BackupDocuments.exportName(backupID: backupID, target: disk.target)),
                plan: plan.copyPlan, newCheckpoint: tracked.contains(disk.target) ? checkpoint : "")
        }
        let session = BackupSession(exports: exports, consistency: consistency, consistencyNote: note,
                                    configuration: VMConfiguration(format: .libvirtDomainXML, document: xml))
        let outcome: (result: Result, committed: Bool)
        do {
            if let remote, let port {
                outcome = try await NBDServerProcess.withSSHTunnel(remote.arguments, port: port, socket: socket,
                                                                   owner: .init(jobID: backupID, log: source.processLog)) {
                    try await body(session)
                }
            } else {
                outcome = try await body(session)
            }
        } catch {
            await endJob()
            if checkpointXML != nil { try? await domain.deleteCheckpoint(checkpoint) }
            throw error
        }
        await endJob()
        if outcome.committed {
            // Only the newest checkpoint is needed; each older bitmap costs the guest on every write.
            for old in Set(obsolete.values) where old != checkpoint {
                try? await domain.deleteCheckpoint(old)
            }
        } else if checkpointXML != nil {
            try? await domain.deleteCheckpoint(checkpoint)
        }
        return outcome.result
    }

    /// A disk of this backup: incremental from `parent`, or whole, saying why.
    struct Plan {
        var disk: LibvirtSource.Disk
        var parent: String?
        var reason: String?
        /// A whole copy of a disk that had a parent checkpoint is compared with the parent point.
        var hadParent = false

        var copyPlan: CopyPlan {
            if parent != nil { return .incremental(context: "qemu:dirty-bitmap:" + BackupDocuments.bitmapName(disk.target)) }
            if hadParent, let reason { return .changedSinceParent(reason: reason) }
            return .full(reason: reason)
        }
    }

    /// Incremental where the disk is qcow2 and libvirt still lists its parent's checkpoint.
    private func plan(_ disks: [(LibvirtSource.Disk, DomainDescription.Disk)], parents: [Int: String]?) async throws -> [Plan] {
        let existing = parents == nil ? [] : Set(try await domain.checkpointNames())
        return disks.map { disk, described in
            guard let parent = parents?[disk.index] else { return Plan(disk: disk, parent: nil, reason: nil) }
            guard described.format == "qcow2" else {
                return Plan(disk: disk, parent: nil, reason: "\(disk.target) is a \(described.format ?? "raw") disk, which keeps no change tracking: full backup")
            }
            guard existing.contains(parent) else {
                return Plan(disk: disk, parent: nil, reason: "checkpoint \(parent) of \(disk.target) is gone from domain \(domain.name)", hadParent: true)
            }
            return Plan(disk: disk, parent: parent, reason: nil)
        }
    }

    /// Served on `socket` in `folder`, with the scratch files beside it; on
    /// another host (`port`), on its loopback, with the scratch files in
    /// libvirt's QEMU state folder there (its QEMU's own on every
    /// distribution; libvirt 9 names none itself, and removes them when the
    /// job ends).
    private func backupXML(_ plans: [Plan], allTargets: [String], socket: String, folder: String, port: Int?) -> String {
        let remote = port != nil
        return BackupDocuments.pullBackup(
            disks: plans.map {
                BackupDocuments.Disk(target: $0.disk.target, exportName: BackupDocuments.exportName(backupID: backupID, target: $0.disk.target),
                                     scratchFile: remote ? "\(Self.remoteStateFolder)/sendense-\(backupID)-\($0.disk.target).scratch" : "\(folder)/\($0.disk.target).scratch",
                                     incremental: $0.parent)
            },
            allDisks: allTargets, server: port.map { .tcp(host: "127.0.0.1", port: $0) } ?? .unix(socket: socket))
    }

    static let remoteStateFolder = "/var/lib/libvirt/qemu"

    /// Ports on a remote host's loopback for its NBD servers: below Linux's ephemeral range.
    static let loopbackPorts = 20000..<30000

    static func loopbackPort() -> Int { Int.random(in: loopbackPorts) }

    /// Ends the backup job (QEMU stops its NBD server and drops the scratch
    /// files); a job already gone (the domain stopped) is fine.
    private func endJob() async {
        try? await domain.abortJob()
    }
}
