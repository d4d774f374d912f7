import BackupSources
import Engine
import Foundation
import Repository
import SendenseCore
import Testing
import TestSupport

/// Live backups of a plain QEMU through its QMP socket: bitmaps, fleecing and
/// QEMU's own NBD export, each point judged against the disk as it was at its
/// checkpoint, and nothing left in QEMU afterwards.
@Suite("Live backups of a QEMU through QMP", .serialized, .removesScratch)
struct QMPBackupTests {
    static let vm = BackupManifest.VM(name: "qmp", sourceType: .qmp, identity: [:])

    static func source(_ guest: QemuGuest) -> QMPSource {
        QMPSource(reference: .init(socket: guest.qmpSocket, disks: [.init(index: 0, device: QemuGuest.device)]), runDirectory: scratchFolder("run"))
    }

    /// Runs `job` with the guest paused (QMP stop) until the checkpoint is taken; answers the manifest and the paused disk.
    static func backupAtPause(_ guest: QemuGuest, _ job: BackupJob, source: QMPSource) async throws -> (BackupManifest, String) {
        let qmp = try await QMPConnection.open(guest.controlSocket)
        try await qmp.execute("stop")
        let reference = guest.folder + "/\(job.backupID).raw"
        try guest.copyDisk(to: reference)
        let task = Task { try await job.run(source: source) }
        while ["starting", "snapshot"].contains(job.progress.snapshot.phase) { try await Task.sleep(for: .milliseconds(10)) }
        try await qmp.execute("cont")
        return (try await task.value, reference)
    }

    /// What of ours QEMU still holds: exports, jobs, sendense-* bitmaps, fleecing nodes.
    static func leftovers(_ guest: QemuGuest) async throws -> (exports: Int, jobs: Int, nodes: [String], bitmaps: [String]) {
        let qmp = try await QMPConnection.open(guest.controlSocket)
        struct Node: Decodable { var nodeName: String?; enum CodingKeys: String, CodingKey { case nodeName = "node-name" } }
        let exports = try JSONSerialization.jsonObject(with: try await qmp.execute("query-block-exports")) as? [Any] ?? []
        let jobs = try JSONSerialization.jsonObject(with: try await qmp.execute("query-block-jobs")) as? [Any] ?? []
        let nodes = try await qmp.execute("query-named-block-nodes", as: [Node].self).compactMap(\.nodeName).filter { $0.hasPrefix("sd-") }
        let bitmaps = try await QMPSource.blockDevices(qmp).first { $0.name == QemuGuest.device }?.inserted?.dirtyBitmaps?.map(\.name) ?? []
        return (exports.count, jobs.count, nodes, bitmaps.sorted())
    }

    @Test("a running QEMU: a full and three incrementals while the guest writes, each equal to its paused disk; QEMU keeps only the newest bitmap")
    func liveChain() async throws {
        let guest = try QemuGuest()
        defer { guest.stop() }
        let source = Self.source(guest)
        let repository = scratchFolder()
        var parent: BackupJob.Parent?
        var points: [(String, String)] = []
        for cycle in 0..<4 {
            let job = BackupJob(backupID: "qmp-\(cycle)", vm: Self.vm, repositoryRoot: repository, parent: parent)
            let (manifest, reference) = try await Self.backupAtPause(guest, job, source: source)
            let directory = job.layout.backupDirectory(job.backupID)
            try BackupJobTests.expectRestores(directory, equalTo: [reference])
            #expect(manifest.backupType == (cycle == 0 ? .full : .incremental), "\(manifest.disks[0].note ?? "")")
            #expect(manifest.consistency == .crashConsistent)
            #expect(manifest.vmConfiguration?.format == .qemuQMP && manifest.vmConfiguration?.document.contains("drive-virtio0") == true)
            if cycle > 0 { #expect(manifest.disks[0].bytesWritten > 0 && manifest.disks[0].bytesWritten < 64 << 20) }
            let left = try await Self.leftovers(guest)
            #expect(left.exports == 0 && left.jobs == 0 && left.nodes.isEmpty, "\(left)")
            #expect(left.bitmaps == ["sendense-qmp-\(cycle)"])
            points.append((directory, reference))
            parent = .init(backupID: job.backupID, checkpoints: [0: manifest.disks[0].checkpoint ?? ""])
            try await Task.sleep(for: .seconds(2))
        }
        for (directory, reference) in points { try BackupJobTests.expectRestores(directory, equalTo: [reference]) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: QemuWorkFolder.parent(runDirectory: source.runDirectory)).isEmpty)
        #expect(guest.isRunning)
    }

    @Test("a guest agent on its own socket freezes the filesystems: the point is application-consistent, its ext4 clean, and the guest writes again; an agent that does not answer gives a crash-consistent incremental that says why")
    func guestAgent() async throws {
        let guest = try QemuGuest(writer: .filesystem, agent: true)
        defer { guest.stop() }
        var answers = false
        for _ in 0..<60 where !answers {  // The agent starts with the guest's writer.
            answers = (try? await QMPConnection.openGuestAgent(guest.agentSocket, timeout: .seconds(1))) != nil
            if !answers { try await Task.sleep(for: .seconds(1)) }
        }
        #expect(answers)
        let disks = [QMPSource.Disk(index: 0, device: QemuGuest.device)]
        let repository = scratchFolder()
        let frozen = QMPSource(reference: .init(socket: guest.qmpSocket, agentSocket: guest.agentSocket, disks: disks), runDirectory: scratchFolder("run"))
        let job = BackupJob(backupID: "frozen", vm: Self.vm, repositoryRoot: repository, parent: nil)
        let manifest = try await job.run(source: frozen)
        #expect(manifest.consistency == .applicationConsistent)
        #expect(manifest.consistencyNote?.contains("froze 1 filesystem") == true, "\(manifest.consistencyNote ?? "")")
        let restored = scratchFolder() + "/restored.raw"
        _ = try mustRun(["qemu-img", "convert", "-O", "raw", job.layout.backupDirectory("frozen") + "/disk-0.qcow2", restored])
        // A frozen ext4 has its journal flushed: no recovery needed, no error.
        let fsck = try tool(["e2fsck", "-fn", restored])
        #expect(fsck.status == 0, "\(fsck.output)")
        // Thawed: the guest goes on writing.
        let before = try guest.qmp("query-blockstats")
        try await Task.sleep(for: .seconds(3))
        #expect(try guest.qmp("query-blockstats") != before)

        let silent = QMPSource(reference: .init(socket: guest.qmpSocket, agentSocket: guest.silentSocket, disks: disks), runDirectory: scratchFolder("run"))
        let next = try await BackupJob(backupID: "silent", vm: Self.vm, repositoryRoot: repository,
                                       parent: .init(backupID: "frozen", checkpoints: [0: manifest.disks[0].checkpoint ?? ""])).run(source: silent)
        #expect(next.backupType == .incremental && next.consistency == .crashConsistent)
        #expect(next.consistencyNote?.contains("did not answer") == true, "\(next.consistencyNote ?? "")")
        let left = try await Self.leftovers(guest)
        #expect(left.exports == 0 && left.jobs == 0 && left.nodes.isEmpty && left.bitmaps == ["sendense-silent"], "\(left)")
    }

    @Test("a failed backup gives its changes back to the parent's bitmap; a missing bitmap makes an incremental by comparison; another tool's NBD server is refused in words and left running")
    func failureAndMissingBitmap() async throws {
        let guest = try QemuGuest()
        defer { guest.stop() }
        let source = Self.source(guest)
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "f-0", vm: Self.vm, repositoryRoot: repository, parent: nil).run(source: source)
        let parent = BackupJob.Parent(backupID: "f-0", checkpoints: [0: first.disks[0].checkpoint ?? ""])
        // A session whose body fails: nothing committed, the parent bitmap records again with every change.
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await source.withSession(backupID: "f-1", parentCheckpoints: parent.checkpoints, replacing: parent.checkpoints) { _ -> (result: Int, committed: Bool) in
                throw Boom()
            }
        }
        var left = try await Self.leftovers(guest)
        #expect(left.exports == 0 && left.jobs == 0 && left.nodes.isEmpty && left.bitmaps == ["sendense-f-0"], "\(left)")
        do {  // One client at a time on a QMP socket: this one closes before the backup opens its own.
            let qmp = try await QMPConnection.open(guest.controlSocket)
            #expect(try await QMPSource.blockDevices(qmp).first?.inserted?.dirtyBitmaps?.first?.recording == true)
        }
        let (second, reference) = try await Self.backupAtPause(guest, BackupJob(backupID: "f-2", vm: Self.vm, repositoryRoot: repository, parent: parent), source: source)
        #expect(second.backupType == .incremental)
        try BackupJobTests.expectRestores(BackupLayout(repositoryRoot: repository, vmName: "qmp").backupDirectory("f-2"), equalTo: [reference])

        // The bitmap removed behind our back: the next backup compares with its parent instead.
        do {
            let qmp = try await QMPConnection.open(guest.controlSocket)
            let node = try #require(try await QMPSource.blockDevices(qmp).first?.inserted?.nodeName)
            try await qmp.execute("block-dirty-bitmap-remove", ["node": node, "name": "sendense-f-2"])
        }
        let job = BackupJob(backupID: "f-3", vm: Self.vm, repositoryRoot: repository, parent: .init(backupID: "f-2", checkpoints: [0: "sendense-f-2"]))
        let (third, thirdReference) = try await Self.backupAtPause(guest, job, source: source)
        #expect(third.backupType == .incremental)
        #expect(third.disks[0].note?.contains("bitmap sendense-f-2 of drive-virtio0 is missing") == true, "\(third.disks[0].note ?? "")")
        #expect(third.disks[0].bytesWritten < 24 << 20)
        try BackupJobTests.expectRestores(job.layout.backupDirectory("f-3"), equalTo: [thirdReference])
        left = try await Self.leftovers(guest)
        #expect(left.bitmaps == ["sendense-f-3"], "\(left)")

        // Another tool's NBD server runs in this QEMU: the backup fails saying so, and that server stays.
        let foreign = guest.folder + "/other-tool.sock"
        do {
            let qmp = try await QMPConnection.open(guest.controlSocket)
            try await qmp.execute("nbd-server-start", ["addr": ["type": "unix", "data": ["path": foreign]]])
        }
        let refused = BackupJob(backupID: "f-4", vm: Self.vm, repositoryRoot: repository, parent: .init(backupID: "f-3", checkpoints: [0: "sendense-f-3"]))
        await #expect { try await refused.run(source: source) } throws: { "\($0)".contains("another tool's NBD server") }
        left = try await Self.leftovers(guest)
        #expect(left.jobs == 0 && left.nodes.isEmpty && left.bitmaps == ["sendense-f-3"], "\(left)")
        let qmp = try await QMPConnection.open(guest.controlSocket)
        await #expect(throws: QMPConnection.Failure.self, "the other tool's NBD server was stopped") {
            try await qmp.execute("nbd-server-start", ["addr": ["type": "unix", "data": ["path": guest.folder + "/again.sock"]]])
        }
    }
}
