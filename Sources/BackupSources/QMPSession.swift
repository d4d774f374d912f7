import Foundation
import NBD
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// One backup of a running QEMU through QMP. In one transaction (the
/// guest's filesystems frozen around it when its agent answers), per disk:
/// the new checkpoint's bitmap is added (persistent, recording), the
/// parent's is disabled (so it holds exactly the changes up to this instant
/// and can be exported), and a `blockdev-backup sync=none` job starts copying
/// what the guest overwrites into the disk's fleecing overlay. QEMU's NBD
/// server then exports each overlay (the point in time) with the parent's
/// bitmap. Afterwards, whatever happened: exports, server, jobs and overlays
/// go. Committed: the parent's bitmap is removed. Not committed: the new
/// bitmap is merged back into the parent's, which records again, so the next
/// incremental still sees every change.
struct QMPSession {
    let source: QMPSource
    let qmp: QMPConnection
    let backupID: String

    /// Names QEMU knows this session's objects by (node names are at most 31 bytes).
    struct Names {
        let tag: String

        init(backupID: String) { tag = QemuWorkFolder.shortName(backupID) }

        func fleece(_ index: Int) -> String { "sd-f\(index)-\(tag)" }
        func job(_ index: Int) -> String { "sd-j\(index)-\(tag)" }
        func export(_ index: Int) -> String { "sd-e\(index)-\(tag)" }
    }

    /// A disk of this session.
    struct Plan {
        var disk: QMPSource.Disk
        var node: String
        var size: UInt64
        var path: String
        /// Keeps bitmaps (qcow2).
        var tracks: Bool
        /// The parent's bitmap, recording and consistent: exported for an incremental.
        var parent: String?
        var copy: CopyPlan
    }

    func run<Result: Sendable>(
        parentCheckpoints: [Int: String]?, replacing obsolete: [Int: String],
        _ body: (BackupSession) async throws -> (result: Result, committed: Bool)
    ) async throws -> Result {
        let devices = try await QMPSource.blockDevices(qmp)
        let plans = try source.chosen(in: devices).map { Self.plan($0.0, device: $0.1, parent: parentCheckpoints?[$0.0.index]) }
        let configuration = try await configuration(devices: devices)
        let checkpoint = QMPSource.checkpointName(for: backupID)
        let names = Names(backupID: backupID)
        let folder = try QemuWorkFolder.make(runDirectory: source.runDirectory, backupID: backupID, owner: (qmp.peer.uid, qmp.peer.gid))
        defer { try? FileManager.default.removeItem(atPath: folder) }

        let (agent, absent) = await guestAgent()
        // The overlays: empty qcow2 files QEMU fills with what the guest overwrites.
        var added: [Int] = []
        let consistency: PointConsistency, note: String
        do {
            for plan in plans {
                let path = "\(folder)/\(plan.disk.index).fleece"
                _ = try await QemuImageTool.run(["create", "-q", "-f", "qcow2", path, String(plan.size)])
                chown(path, qmp.peer.uid, qmp.peer.gid)
                try await qmp.execute("blockdev-add", ["driver": "qcow2", "node-name": names.fleece(plan.disk.index),
                                                       "file": ["driver": "file", "filename": path], "backing": plan.node])
                added.append(plan.disk.index)
            }
            var actions: [[String: Any]] = []
            for plan in plans {
                if plan.tracks {
                    actions.append(["type": "block-dirty-bitmap-add", "data": ["node": plan.node, "name": checkpoint, "persistent": true]])
                }
                if let parent = plan.parent {
                    actions.append(["type": "block-dirty-bitmap-disable", "data": ["node": plan.node, "name": parent]])
                }
                actions.append(["type": "blockdev-backup", "data": ["device": plan.node, "target": names.fleece(plan.disk.index),
                                                                     "sync": "none", "job-id": names.job(plan.disk.index)]])
            }
            (consistency, note) = try await GuestFreeze.around(agent, absent: absent) {
                try await qmp.execute("transaction", ["actions": actions])
            }
        } catch {
            await tearDown(plans, fleeces: added, names: names, serving: false)
            throw error
        }

        let outcome: (result: Result, committed: Bool)
        // QEMU runs one NBD server: stopped afterwards only if this session started it (another tool's stays).
        var serving = false
        do {
            let socket = folder + "/nbd.sock"
            do {
                try await qmp.execute("nbd-server-start", ["addr": ["type": "unix", "data": ["path": socket]]])
            } catch let failure as QMPConnection.Failure {
                throw SourceError.exportFailed("QEMU cannot serve this backup over NBD (\(failure.message)): is another tool's NBD server running in it?")
            }
            serving = true
            for plan in plans {
                var export: [String: Any] = ["type": "nbd", "id": names.export(plan.disk.index), "node-name": names.fleece(plan.disk.index),
                                             "name": plan.disk.device, "writable": false]
                if let parent = plan.parent { export["bitmaps"] = [parent] }
                try await qmp.execute("block-export-add", export)
            }
            let exports = plans.map { plan in
                DiskExport(disk: SourceDisk(index: plan.disk.index, label: plan.disk.device, capacityBytes: plan.size, location: plan.path),
                           endpoint: NBDEndpoint(transport: .unix(path: socket), exportName: plan.disk.device),
                           plan: plan.copy, newCheckpoint: plan.tracks ? checkpoint : "")
            }
            outcome = try await body(BackupSession(
                exports: exports, consistency: consistency, consistencyNote: note, configuration: configuration))
        } catch {
            await tearDown(plans, fleeces: added, names: names, serving: serving)
            await keepChanges(plans, checkpoint: checkpoint)
            throw error
        }
        await tearDown(plans, fleeces: added, names: names, serving: true)
        if outcome.committed {
            // Only the newest checkpoint is needed; each older bitmap costs the guest on every write.
            for plan in plans where plan.tracks {
                for old in Set([plan.parent, obsolete[plan.disk.index]].compactMap { $0 }) where old != checkpoint {
                    _ = try? await qmp.execute("block-dirty-bitmap-remove", ["node": plan.node, "name": old])
                }
            }
        } else {
            await keepChanges(plans, checkpoint: checkpoint)
        }
        return outcome.result
    }

    /// The VM's guest agent when it has a socket and answers; else why not.
    private func guestAgent() async -> (QemuGuestAgent?, String) {
        guard let socket = source.reference.agentSocket else { return (nil, "no guest agent socket was given for this QEMU") }
        do {
            return (try await QemuGuestAgent.open(socket), "")
        } catch {
            return (nil, "the guest agent at \(socket) did not answer (\(error))")
        }
    }

    /// Incremental from a recording, consistent parent bitmap; by comparison
    /// with the parent point when that bitmap is missing or inconsistent.
    static func plan(_ disk: QMPSource.Disk, device: QMPSource.BlockDevice, parent: String?) -> Plan {
        let inserted = device.inserted!
        var plan = Plan(disk: disk, node: inserted.nodeName, size: inserted.image.virtualSize, path: inserted.image.filename,
                        tracks: inserted.image.format == "qcow2", parent: nil, copy: .full(reason: nil))
        guard let parent else { return plan }
        guard plan.tracks else {
            plan.copy = .full(reason: "\(disk.device) is a \(inserted.image.format) disk, which keeps no bitmaps: full backup")
            return plan
        }
        switch inserted.dirtyBitmaps?.first(where: { $0.name == parent }) {
        case let bitmap? where bitmap.inconsistent != true && bitmap.recording:
            plan.parent = parent
            plan.copy = .incremental(context: "qemu:dirty-bitmap:\(parent)")
        case let bitmap?:
            plan.copy = .changedSinceParent(reason: "bitmap \(parent) of \(disk.device) is \(bitmap.inconsistent == true ? "inconsistent (QEMU was not shut down cleanly)" : "not recording")")
        case nil:
            plan.copy = .changedSinceParent(reason: "bitmap \(parent) of \(disk.device) is missing")
        }
        return plan
    }

    /// The new bitmap goes back into the parent's, which records again; a
    /// disk without a parent just drops the new one.
    private func keepChanges(_ plans: [Plan], checkpoint: String) async {
        for plan in plans where plan.tracks {
            if let parent = plan.parent {
                _ = try? await Self.giveBack(checkpoint, to: parent, node: plan.node, qmp: qmp)
            } else {
                _ = try? await qmp.execute("block-dirty-bitmap-remove", ["node": plan.node, "name": checkpoint])
            }
        }
    }

    /// Merges bitmap `from` into the disabled `parent`, which records again,
    /// and removes `from`, in one transaction: done in steps, a guest write
    /// between the merge and the enable would be in neither.
    static func giveBack(_ from: String, to parent: String, node: String, qmp: QMPConnection) async throws {
        try await qmp.execute("transaction", ["actions": [
            ["type": "block-dirty-bitmap-enable", "data": ["node": node, "name": parent]],
            ["type": "block-dirty-bitmap-merge", "data": ["node": node, "target": parent, "bitmaps": [from]]],
            ["type": "block-dirty-bitmap-remove", "data": ["node": node, "name": from]],
        ]])
    }

    private func tearDown(_ plans: [Plan], fleeces: [Int], names: Names, serving: Bool) async {
        await Self.tearDown(qmp: qmp, disks: plans.map(\.disk.index), fleeces: fleeces, names: names, serving: serving)
    }

    /// Exports, the NBD server (when `serving`: this session started it), the
    /// jobs and the overlays go, in that order (each holds the next); every
    /// step is tried whatever the one before did.
    static func tearDown(qmp: QMPConnection, disks: [Int], fleeces: [Int], names: Names, serving: Bool) async {
        for index in disks { _ = try? await qmp.execute("block-export-del", ["id": names.export(index), "mode": "hard"]) }
        if serving { _ = try? await qmp.execute("nbd-server-stop") }
        for index in disks { _ = try? await qmp.execute("block-job-cancel", ["device": names.job(index), "force": true]) }
        let ours = Set(disks.map { names.job($0) })
        for _ in 0..<500 {
            struct Job: Decodable { var device: String }
            guard let jobs = try? await qmp.execute("query-block-jobs", as: [Job].self), jobs.contains(where: { ours.contains($0.device) }) else { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for index in fleeces {
            for _ in 0..<50 {
                // An export still closing holds the node a moment.
                if (try? await qmp.execute("blockdev-del", ["node-name": names.fleece(index)])) != nil { break }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// What QEMU says of the VM: CPUs, memory, block devices (a command line is not available through QMP).
    private func configuration(devices: [QMPSource.BlockDevice]) async throws -> VMConfiguration {
        var document: [String: Any] = [:]
        for (key, command) in [("cpus", "query-cpus-fast"), ("memory", "query-memory-size-summary"), ("block", "query-block"),
                               ("pci", "query-pci"), ("name", "query-name"), ("uuid", "query-uuid")] {
            if let answer = try? await qmp.execute(command), let value = try? JSONSerialization.jsonObject(with: answer, options: .fragmentsAllowed) {
                document[key] = value
            }
        }
        let data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
        return VMConfiguration(format: .qemuQMP, document: String(decoding: data, as: UTF8.self))
    }
}
