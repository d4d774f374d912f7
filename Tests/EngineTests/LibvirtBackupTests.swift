import BackupSources
import Engine
import Foundation
import Repository
import SendenseCore
import Testing
import TestSupport

/// Live backups of running libvirt domains: a real libvirtd, a booted guest
/// that writes all the time, each restore point judged by qemu-img against
/// the disk as it was at its checkpoint.
@Suite("Live backups of libvirt domains", .serialized, .removesScratch)
struct LibvirtBackupTests {
    static func source(_ domain: LabDomain) throws -> LibvirtSource {
        let uuid = try domain.virsh("domuuid", domain.name).trimmingCharacters(in: .whitespacesAndNewlines)
        return LibvirtSource(reference: .init(uri: LibvirtLab.uri, uuid: uuid, disks: [.init(index: 0, target: "vda")]),
                             runDirectory: scratchFolder("run"))
    }

    static let vm = BackupManifest.VM(name: "live", sourceType: .libvirt, identity: [:])

    /// Runs `job` with the guest paused at its checkpoint: the disk is copied
    /// while paused, the backup begins, and the guest runs (and writes) again
    /// as soon as the checkpoint is taken. Answers the manifest and the copy.
    static func backupAtPause(_ domain: LabDomain, _ job: BackupJob, source: LibvirtSource) async throws -> (BackupManifest, String) {
        _ = try domain.virsh("suspend", domain.name)
        let reference = domain.folder + "/\(job.backupID).raw"
        try domain.copyDisk(to: reference)
        let task = Task { try await job.run(source: source) }
        while ["starting", "snapshot"].contains(job.progress.snapshot.phase) { try await Task.sleep(for: .milliseconds(10)) }
        _ = try domain.virsh("resume", domain.name)
        return (try await task.value, reference)
    }

    @Test("a running domain: a full and three incrementals while the guest writes, each equal to the disk at its checkpoint")
    func liveChain() async throws {
        let domain = try LabDomain(writer: .raw)
        defer { domain.remove() }
        let source = try Self.source(domain)
        let repository = scratchFolder()
        var parent: BackupJob.Parent?
        var points: [(String, String)] = []
        for cycle in 0..<4 {
            let job = BackupJob(backupID: "live-\(cycle)", vm: Self.vm, repositoryRoot: repository, parent: parent)
            let (manifest, reference) = try await Self.backupAtPause(domain, job, source: source)
            let directory = job.layout.backupDirectory(job.backupID)
            try BackupJobTests.expectRestores(directory, equalTo: [reference])
            #expect(manifest.backupType == (cycle == 0 ? .full : .incremental))
            #expect(manifest.disks[0].checkpoint == "sendense-live-\(cycle)")
            if cycle > 0 {
                // The guest wrote between the checkpoints; only that was copied.
                #expect(manifest.disks[0].bytesWritten > 0)
                #expect(manifest.disks[0].bytesWritten < 64 << 20, "an incremental wrote \(manifest.disks[0].bytesWritten) bytes")
            }
            // A paused guest's agent cannot freeze: crash-consistent, and said so.
            #expect(manifest.consistency == .crashConsistent)
            #expect(manifest.consistencyNote?.contains("could not freeze") == true, "\(manifest.consistencyNote ?? "")")
            #expect(manifest.vmConfiguration?.format == .libvirtDomainXML)
            #expect(manifest.vmConfiguration?.document.contains("<name>\(domain.name)</name>") == true)
            #expect(try domain.checkpoints() == ["sendense-live-\(cycle)"])
            #expect(try domain.virsh("domstate", domain.name).hasPrefix("running"))
            points.append((directory, reference))
            parent = .init(backupID: job.backupID, checkpoints: [0: manifest.disks[0].checkpoint ?? ""])
            try await Task.sleep(for: .seconds(2))
        }
        // Every point still restores as the disk was at its checkpoint.
        for (directory, reference) in points { try BackupJobTests.expectRestores(directory, equalTo: [reference]) }
        // The job and its folder are gone; the guest still writes.
        #expect(try domain.virsh("domjobinfo", domain.name).contains("None"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: QemuWorkFolder.parent(runDirectory: source.runDirectory)).isEmpty)
    }

    @Test("the guest agent freezes the filesystems: the point is application-consistent and its ext4 is clean")
    func applicationConsistent() async throws {
        let domain = try LabDomain(writer: .filesystem, agent: true)
        defer { domain.remove() }
        let source = try Self.source(domain)
        let repository = scratchFolder()
        let job = BackupJob(backupID: "frozen", vm: Self.vm, repositoryRoot: repository, parent: nil)
        let manifest = try await job.run(source: source)
        #expect(manifest.consistency == .applicationConsistent)
        #expect(manifest.consistencyNote?.contains("froze 1 filesystem") == true, "\(manifest.consistencyNote ?? "")")
        let restored = scratchFolder() + "/restored.raw"
        _ = try mustRun(["qemu-img", "convert", "-O", "raw", job.layout.backupDirectory("frozen") + "/disk-0.qcow2", restored])
        // A frozen ext4 has its journal flushed: no recovery needed, no error.
        let fsck = try tool(["e2fsck", "-fn", restored])
        #expect(fsck.status == 0, "\(fsck.output)")
        // Thawed: the guest goes on writing.
        let before = try domain.virsh("domblkstat", domain.name, "vda", "--human")
        try await Task.sleep(for: .seconds(3))
        #expect(try domain.virsh("domblkstat", domain.name, "vda", "--human") != before)
    }

    @Test("a checkpoint deleted between backups, a guest without agent: the next backup is a small incremental by comparison and says why")
    func lostCheckpoint() async throws {
        let domain = try LabDomain(writer: .raw, agent: false)
        defer { domain.remove() }
        let source = try Self.source(domain)
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "lost-0", vm: Self.vm, repositoryRoot: repository, parent: nil).run(source: source)
        #expect(first.consistency == .crashConsistent)
        _ = try domain.virsh("checkpoint-delete", domain.name, "sendense-lost-0")
        let job = BackupJob(backupID: "lost-1", vm: Self.vm, repositoryRoot: repository,
                            parent: .init(backupID: "lost-0", checkpoints: [0: "sendense-lost-0"]))
        let (manifest, reference) = try await Self.backupAtPause(domain, job, source: source)
        #expect(manifest.disks[0].note?.contains("sendense-lost-0 of vda is gone") == true, "\(manifest.disks[0].note ?? "")")
        #expect(manifest.backupType == .incremental)
        #expect(manifest.disks[0].backingFile == "../lost-0/disk-0.qcow2")
        // The guest rewrote some 64 KiB blocks; the 48 MiB written before it started are not copied again.
        #expect(manifest.disks[0].bytesWritten < 24 << 20, "\(manifest.disks[0].bytesWritten) bytes written")
        try BackupJobTests.expectRestores(job.layout.backupDirectory("lost-1"), equalTo: [reference])
        #expect(try domain.checkpoints() == ["sendense-lost-1"])
    }

    @Test("QEMU killed under a running guest leaves its bitmap inconsistent: the next backup is an incremental by comparison, not a failure")
    func inconsistentBitmap() async throws {
        let domain = try LabDomain(writer: .raw, agent: false)
        defer { domain.remove() }
        let source = try Self.source(domain)
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "crash-0", vm: Self.vm, repositoryRoot: repository, parent: nil).run(source: source)
        try domain.killAndRestart()
        #expect(try domain.checkpoints() == ["sendense-crash-0"])
        let job = BackupJob(backupID: "crash-1", vm: Self.vm, repositoryRoot: repository,
                            parent: .init(backupID: "crash-0", checkpoints: [0: first.disks[0].checkpoint ?? ""]))
        let (manifest, reference) = try await Self.backupAtPause(domain, job, source: source)
        #expect(manifest.backupType == .incremental)
        #expect(manifest.disks[0].note?.contains("could not read the changes of vda since sendense-crash-0") == true, "\(manifest.disks[0].note ?? "")")
        #expect(manifest.disks[0].bytesWritten < 24 << 20, "\(manifest.disks[0].bytesWritten) bytes written")
        try BackupJobTests.expectRestores(job.layout.backupDirectory("crash-1"), equalTo: [reference])
        #expect(try domain.checkpoints().contains("sendense-crash-1"))
    }

    @Test("a stopped domain is backed up through its image file, with its definition")
    func stoppedDomain() async throws {
        let domain = try LabDomain(writer: .raw, agent: false)
        defer { domain.remove() }
        let source = try Self.source(domain)
        let repository = scratchFolder()
        let live = try await BackupJob(backupID: "on-0", vm: Self.vm, repositoryRoot: repository, parent: nil).run(source: source)
        _ = try domain.virsh("destroy", domain.name)
        let job = BackupJob(backupID: "off-1", vm: Self.vm, repositoryRoot: repository,
                            parent: .init(backupID: "on-0", checkpoints: [0: live.disks[0].checkpoint ?? ""]))
        let manifest = try await job.run(source: source)
        #expect(manifest.consistency == .poweredOff)
        #expect(manifest.vmConfiguration?.document.contains("<name>\(domain.name)</name>") == true)
        // The checkpoint the live backup left as a bitmap in the image serves the incremental.
        #expect(manifest.backupType == .incremental, "\(manifest.disks[0].note ?? "")")
        let reference = domain.folder + "/off.raw"
        try domain.copyDisk(to: reference)
        try BackupJobTests.expectRestores(job.layout.backupDirectory("off-1"), equalTo: [reference])
    }

    @Test("a domain on a host reached through SSH: a full and an incremental, each equal to the disk at its checkpoint, read through an SSH tunnel gone afterwards; stopped, it is refused in words")
    func remoteHost() async throws {
        let ssh = try SSHLab()
        defer { ssh.stop() }
        let domain = try LabDomain(writer: .raw, agent: false)
        defer { domain.remove() }
        let local = try Self.source(domain)
        let source = LibvirtSource(reference: .init(uri: ssh.libvirtURI, uuid: local.reference.uuid, disks: local.reference.disks),
                                   runDirectory: local.runDirectory)
        #expect(try await source.disks().map(\.label) == ["vda"])
        let repository = scratchFolder()
        var parent: BackupJob.Parent?
        for cycle in 0..<2 {
            let job = BackupJob(backupID: "remote-\(cycle)", vm: Self.vm, repositoryRoot: repository, parent: parent)
            let (manifest, reference) = try await Self.backupAtPause(domain, job, source: source)
            try BackupJobTests.expectRestores(job.layout.backupDirectory(job.backupID), equalTo: [reference])
            #expect(manifest.backupType == (cycle == 0 ? .full : .incremental), "\(manifest.disks[0].note ?? "")")
            if cycle > 0 { #expect(manifest.disks[0].bytesWritten < 64 << 20, "an incremental wrote \(manifest.disks[0].bytesWritten) bytes") }
            #expect(try domain.checkpoints() == ["sendense-remote-\(cycle)"])
            parent = .init(backupID: job.backupID, checkpoints: [0: manifest.disks[0].checkpoint ?? ""])
            try await Task.sleep(for: .seconds(1))
        }
        // No job, no tunnel, no folder left; the guest still runs.
        #expect(try domain.virsh("domjobinfo", domain.name).contains("None"))
        #expect(try tool(["pgrep", "-f", "ssh -N .*" + QemuWorkFolder.parent(runDirectory: source.runDirectory)]).status != 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: QemuWorkFolder.parent(runDirectory: source.runDirectory)).isEmpty)
        #expect(try domain.virsh("domstate", domain.name).hasPrefix("running"))

        _ = try domain.virsh("destroy", domain.name)
        await #expect { try await BackupJob(backupID: "remote-off", vm: Self.vm, repositoryRoot: repository, parent: parent).run(source: source) } throws: { error in
            "\(error)".contains("shut off on 127.0.0.1")
        }
    }
}
