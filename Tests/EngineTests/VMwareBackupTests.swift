import BackupSources
import Engine
import Foundation
import Repository
import Testing
import TestSupport
import VSphere

/// Full and incremental backups of a vCenter VM through the https transport
/// (nbdkit's curl plugin reading the snapshot's flat extent), against the
/// test vCenter whose CBT tracks the real file. Every restore point is judged
/// by qemu-img against a copy of the disk taken when the backup ran.
@Suite(.serialized, .removesScratch) struct VMwareBackupTests {
    struct Lab {
        let sim: VCSim
        let login: VCenterLogin
        /// The test's own session, to look at the VM between backups.
        let client: VSphereClient
        let vm: VirtualMachineInfo
        let folder = scratchFolder()
        var random = SplitMix64(seed: 77)

        init(trust: (VCSim) -> CertificateTrust = { _ in .insecure }) async throws {
            sim = try VCSim(vms: 2, diskMB: 32, pageAreas: 8)
            login = VCenterLogin(endpoint: VCenterEndpoint(host: sim.host, port: sim.port, trust: trust(sim)),
                                 username: sim.info.username, password: sim.info.password)
            client = VSphereClient(login)
            vm = try #require(try await client.virtualMachines().first)
        }

        var disk: String { sim.flatExtent(vm: vm.name) }

        func source() -> VMwareSource {
            VMwareSource(login: login, vmMoref: vm.moref, datacenter: vm.datacenter ?? "",
                         disks: vm.disks.enumerated().map { .init(index: $0.offset, key: $0.element.key, label: $0.element.label, capacityBytes: UInt64($0.element.capacityBytes)) },
                         transport: .https, socketDirectory: folder)
        }

        mutating func scribble(_ writes: Int, size: Int = 200 << 10) {
            let file = RawReference(existing: disk, writable: true)
            for _ in 0..<writes {
                let offset = UInt64.random(in: 0..<UInt64((32 << 20) - size), using: &random)
                file.write(random.bytes(size), at: offset)
            }
        }

        func copyOfDisk(_ name: String) throws -> String {
            let copy = folder + "/\(name).raw"
            try mustRun(["cp", "--sparse=always", disk, copy])
            return copy
        }
    }

    static let identity = BackupManifest.VM(name: "DC0_H0_VM0", sourceType: .vmware, identity: [:])

    @Test("full, incrementals from CBT, and a full after a CBT reset restore exactly; the snapshot is always removed")
    func chain() async throws {
        var lab = try await Lab()
        let repository = scratchFolder()
        lab.scribble(6)
        let full = BackupJob(backupID: "vm-full", vm: Self.identity, repositoryRoot: repository, parent: nil)
        let first = try await full.run(source: lab.source())
        #expect(first.backupType == .full)
        #expect(first.disks[0].note?.contains("Changed Block Tracking was off") == true)
        // The VM's hardware is kept with the point, for a restore to recreate the VM.
        let configuration = try #require(first.vmConfiguration)
        #expect(configuration.format == .vmwareHardware)
        let hardware = try VMwareHardware(json: configuration.document)
        #expect(hardware.name == lab.vm.name && hardware.memoryMB == lab.vm.memoryMB && hardware.disks.count == lab.vm.disks.count)
        let fullRaw = try lab.copyOfDisk("full")
        try BackupJobTests.expectRestores(full.layout.backupDirectory("vm-full"), equalTo: [fullRaw])
        // Only the allocated areas were read: 6 writes of 200 KiB, each within five 64 KiB blocks.
        #expect(full.progress.snapshot.totalBytes <= 6 * (320 << 10))
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        let firstChange = try #require(first.disks[0].checkpoint)

        lab.scribble(3, size: 4096)
        let incremental = BackupJob(backupID: "vm-inc1", vm: Self.identity, repositoryRoot: repository,
                                    parent: .init(backupID: "vm-full", checkpoints: [0: firstChange]))
        let second = try await incremental.run(source: lab.source())
        #expect(second.backupType == .incremental && second.disks[0].backingFile != nil)
        #expect(incremental.progress.snapshot.totalBytes <= 3 * (128 << 10))
        #expect(second.disks[0].checkpoint != firstChange)
        try BackupJobTests.expectRestores(incremental.layout.backupDirectory("vm-inc1"), equalTo: [try lab.copyOfDisk("inc1")])
        // The full still restores as the disk was then.
        try BackupJobTests.expectRestores(full.layout.backupDirectory("vm-full"), equalTo: [fullRaw])
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)

        // A change id vCenter does not know (CBT reset) gives a full backup with a note.
        lab.scribble(1)
        let reset = BackupJob(backupID: "vm-reset", vm: Self.identity, repositoryRoot: repository,
                              parent: .init(backupID: "vm-inc1", checkpoints: [0: "52 00 00/1234"]))
        let third = try await reset.run(source: lab.source())
        #expect(third.disks[0].copy == .full)
        #expect(third.disks[0].note?.contains("CBT was reset") == true)
        try BackupJobTests.expectRestores(reset.layout.backupDirectory("vm-reset"), equalTo: [try lab.copyOfDisk("reset")])
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        await lab.client.close()
    }

    @Test("a pinned certificate is trusted by nbdkit too")
    func pinnedTransport() async throws {
        var lab = try await Lab { .pinned(thumbprint: $0.info.sha256_thumbprint) }
        lab.scribble(2)
        let job = BackupJob(backupID: "vm-pinned", vm: Self.identity, repositoryRoot: scratchFolder(), parent: nil)
        _ = try await job.run(source: lab.source())
        try BackupJobTests.expectRestores(job.layout.backupDirectory("vm-pinned"), equalTo: [try lab.copyOfDisk("pinned")])
        await lab.client.close()
    }

    @Test("a guest that cannot quiesce gets a crash-consistent snapshot with a note; a failed removal is retried")
    func quiesceFallbackAndRemovalRetry() async throws {
        var lab = try await Lab()
        lab.scribble(1)
        try lab.sim.failNext("CreateSnapshot_Task")
        try lab.sim.failNext("RemoveSnapshot_Task")
        let job = BackupJob(backupID: "vm-crash", vm: Self.identity, repositoryRoot: scratchFolder(), parent: nil)
        let manifest = try await job.run(source: lab.source())
        #expect(manifest.disks[0].note?.contains("could not be quiesced") == true)
        try BackupJobTests.expectRestores(job.layout.backupDirectory("vm-crash"), equalTo: [try lab.copyOfDisk("crash")])
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        await lab.client.close()
    }

    @Test("a snapshot vCenter refuses fails the backup and leaves nothing behind")
    func snapshotFailure() async throws {
        let lab = try await Lab()
        try lab.sim.failNext("CreateSnapshot_Task", count: 2)
        let job = BackupJob(backupID: "vm-fail", vm: Self.identity, repositoryRoot: scratchFolder(), parent: nil)
        await #expect(throws: VSphereError.self) { _ = try await job.run(source: lab.source()) }
        #expect(!FileManager.default.fileExists(atPath: job.layout.partialDirectory("vm-fail")))
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.folder).isEmpty, "no socket or secret file is left")
        await lab.client.close()
    }

    @Test("cancel stops the backup, removes the snapshot and leaves no file")
    func cancel() async throws {
        var lab = try await Lab()
        lab.scribble(120)
        let job = BackupJob(backupID: "vm-cancel", vm: Self.identity, repositoryRoot: scratchFolder(), parent: nil)
        let source = lab.source()
        let task = Task { try await job.run(source: source) }
        while job.progress.snapshot.bytesTransferred == 0 && job.progress.snapshot.phase != "completed" {
            try await Task.sleep(for: .milliseconds(5))
        }
        task.cancel()
        let result = await task.result
        if case .success = result { Issue.record("the backup completed before the cancel reached it") }
        #expect(!FileManager.default.fileExists(atPath: job.layout.partialDirectory("vm-cancel")))
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: lab.folder).filter { !$0.hasSuffix(".raw") }.isEmpty)
        await lab.client.close()
    }

    @Test("the vddk transport says what to install when nbdkit has no vddk plugin")
    func vddkMissing() async throws {
        let lab = try await Lab()
        let source = VMwareSource(login: lab.login, vmMoref: lab.vm.moref, datacenter: "DC0",
                                  disks: [.init(index: 0, key: lab.vm.disks[0].key, label: "Hard disk 1", capacityBytes: 32 << 20)],
                                  transport: .vddk(libdir: nil), socketDirectory: lab.folder)
        let job = BackupJob(backupID: "vm-vddk", vm: Self.identity, repositoryRoot: scratchFolder(), parent: nil)
        await #expect {
            _ = try await job.run(source: source)
        } throws: { error in
            "\(error)".contains("vddk plugin is not available")
        }
        #expect(try await lab.client.snapshots(vm: lab.vm.moref).isEmpty)
        await lab.client.close()
    }
}
