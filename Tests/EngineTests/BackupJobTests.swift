import BackupSources
import DiskImage
import Engine
import Foundation
import Repository
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A two-disk VM of image files that the tests change between backups.
struct LabVM {
    let folder: String
    let qcow2: String
    let raw: String
    var random = SplitMix64(seed: 2024)

    init(qcow2Size: Int = 48 << 20, rawSize: Int = 8 << 20) throws {
        folder = scratchFolder()
        qcow2 = folder + "/vda.qcow2"
        raw = folder + "/vdb.raw"
        // Random data with holes: write a sparse raw file, convert it.
        let seedRaw = folder + "/seed.raw"
        let seed = RawReference(path: seedRaw, size: UInt64(qcow2Size))
        for start in stride(from: 0, to: qcow2Size, by: 8 << 20) {
            seed.write(random.bytes(3 << 20), at: UInt64(start + (1 << 20)))
        }
        try mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", seedRaw, qcow2])
        unlink(seedRaw)
        let second = RawReference(path: raw, size: UInt64(rawSize))
        second.write(random.bytes(1 << 20), at: 2 << 20)
    }

    var source: QemuImageSource {
        QemuImageSource(disks: [.init(index: 0, path: qcow2, label: "vda"), .init(index: 1, path: raw, label: "vdb")], socketDirectory: folder)
    }

    var identity: BackupManifest.VM { .init(name: "lab vm/1", sourceType: .qemuImage, identity: ["vda": qcow2, "vdb": raw]) }

    /// Random writes, zeroed ranges and discards, as a guest would make.
    mutating func change(writes: Int = 12) throws {
        var commands: [String] = []
        for _ in 0..<writes {
            let offset = UInt64.random(in: 0..<(47 << 20), using: &random) / 512 * 512
            let length = UInt64.random(in: 1...(256 << 10), using: &random) / 512 * 512 + 512
            switch Int.random(in: 0..<4, using: &random) {
            case 0: commands += ["-c", "write -z \(offset) \(length)"]
            case 1: commands += ["-c", "discard \(offset) \(length)"]
            default: commands += ["-c", "write -P \(Int.random(in: 1...255, using: &random)) \(offset) \(length)"]
            }
        }
        try mustRun(["qemu-io", "-f", "qcow2"] + commands + [qcow2])
        RawReference(existing: raw, writable: true).write(random.bytes(64 << 10), at: UInt64.random(in: 0..<(7 << 20), using: &random))
    }

    /// The disks as they are now, as raw files to compare restore points with later.
    func snapshot(_ name: String) throws -> [String] {
        let vda = folder + "/\(name)-vda.raw", vdb = folder + "/\(name)-vdb.raw"
        try mustRun(["qemu-img", "convert", "-O", "raw", qcow2, vda])
        try mustRun(["cp", "--sparse=always", raw, vdb])
        return [vda, vdb]
    }

    func bitmaps() throws -> [String] {
        let info = try tool(["qemu-img", "info", "--output=json", "-U", qcow2])
        let json = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [String: Any]
        let data = (json?["format-specific"] as? [String: Any])?["data"] as? [String: Any]
        return (data?["bitmaps"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }.sorted()
    }
}

@Suite("Backup jobs of qemu_image VMs, judged by qemu-img", .removesScratch)
struct BackupJobTests {
    static func expectRestores(_ backupDirectory: String, equalTo raws: [String]) throws {
        for (index, raw) in raws.enumerated() {
            let image = backupDirectory + "/disk-\(index).qcow2"
            let check = try tool(["qemu-img", "check", image])
            #expect(check.status == 0 && check.output.contains("No errors"), "\(image): \(check.output)")
            let compare = try tool(["qemu-img", "compare", "-F", "raw", image, raw])
            #expect(compare.status == 0, "\(image) vs \(raw): \(compare.output)")
        }
    }

    @Test("full, then incrementals: every restore point restores exactly, now and later")
    func chainOfBackups() async throws {
        var vm = try LabVM()
        let repository = scratchFolder()
        _ = try LocalRepository.prepare(at: repository)
        var points: [(id: String, raws: [String], directory: String)] = []
        var parent: BackupJob.Parent?
        for cycle in 0..<10 {
            if cycle > 0 { try vm.change() }
            let id = "backup-lab-\(cycle)"
            let job = BackupJob(backupID: id, vm: vm.identity, repositoryRoot: repository, parent: parent)
            let manifest = try await job.run(source: vm.source)
            let raws = try vm.snapshot(id)
            let directory = job.layout.backupDirectory(id)
            try Self.expectRestores(directory, equalTo: raws)
            #expect(manifest.backupType == (cycle == 0 ? .full : .incremental))
            #expect(manifest.disks.map(\.copy) == (cycle == 0 ? [.full, .full] : [.incremental, .full]))
            #expect(manifest.disks[0].checkpoint == "sendense-\(id)")
            #expect(manifest.disks[1].note?.contains("raw images") == true)
            #expect(try vm.bitmaps() == ["sendense-\(id)"])
            #expect(try BackupManifest.read(from: directory) == manifest)
            #expect(!FileManager.default.fileExists(atPath: job.layout.partialDirectory(id)))
            #expect(job.progress.snapshot.phase == "completed")
            #expect(job.progress.snapshot.bytesTransferred == job.progress.snapshot.totalBytes)
            points.append((id, raws, directory))
            parent = BackupJob.Parent(backupID: id, checkpoints: [0: manifest.disks[0].checkpoint ?? ""])
        }
        // Every earlier point still restores as the disk was then.
        for point in points { try Self.expectRestores(point.directory, equalTo: point.raws) }
        let info = try tool(["qemu-img", "info", "--backing-chain", "--output=json", points[9].directory + "/disk-0.qcow2"])
        let chain = try JSONSerialization.jsonObject(with: Data(info.output.utf8)) as? [[String: Any]]
        #expect(chain?.count == 10)
        #expect(chain?.first?["backing-filename"] as? String == "../backup-lab-8/disk-0.qcow2")
        // Our own reader sees the same bytes through the chain.
        let top = try DiskImages.open(path: points[9].directory + "/disk-0.qcow2", backingsWithin: nil)
        let expected = RawReference(existing: points[9].raws[0])
        #expect(try top.read(count: 4 << 20, at: 20 << 20) == expected.read(count: 4 << 20, at: 20 << 20))
    }

    @Test("changing 1% of a disk makes an incremental of at most 2% of its size")
    func incrementalSize() async throws {
        var vm = try LabVM(qcow2Size: 256 << 20)
        let repository = scratchFolder()
        let full = try await BackupJob(backupID: "b-full", vm: vm.identity, repositoryRoot: repository, parent: nil).run(source: vm.source)
        // 1% of 256 MiB, in 41 scattered 64 KiB writes.
        var commands: [String] = []
        for _ in 0..<41 {
            let cluster = UInt64.random(in: 0..<4096, using: &vm.random)
            commands += ["-c", "write -P 0x5c \(cluster * 65536) 64k"]
        }
        try mustRun(["qemu-io", "-f", "qcow2"] + commands + [vm.qcow2])
        let job = BackupJob(backupID: "b-inc", vm: vm.identity, repositoryRoot: repository,
                            parent: .init(backupID: "b-full", checkpoints: [0: full.disks[0].checkpoint ?? ""]))
        let manifest = try await job.run(source: vm.source)
        let size = (try FileManager.default.attributesOfItem(atPath: job.layout.backupDirectory("b-inc") + "/disk-0.qcow2")[.size] as? Int) ?? 0
        #expect(manifest.disks[0].bytesWritten <= 41 * 65536)
        #expect(size <= (256 << 20) / 50, "incremental of 1% change is \(size) bytes")
        try Self.expectRestores(job.layout.backupDirectory("b-inc"), equalTo: try vm.snapshot("inc"))
    }

    @Test("a missing bitmap: the next backup reads the whole disk and writes only what differs from its parent, with a note")
    func missingBitmap() async throws {
        var vm = try LabVM()
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "b1", vm: vm.identity, repositoryRoot: repository, parent: nil).run(source: vm.source)
        try vm.change()
        try mustRun(["qemu-img", "bitmap", "--remove", vm.qcow2, first.disks[0].checkpoint ?? ""])
        let job = BackupJob(backupID: "b2", vm: vm.identity, repositoryRoot: repository,
                            parent: .init(backupID: "b1", checkpoints: [0: first.disks[0].checkpoint ?? ""]))
        let manifest = try await job.run(source: vm.source)
        #expect(manifest.backupType == .incremental)
        #expect(manifest.disks[0].copy == .incremental)
        #expect(manifest.disks[0].backingFile == "../b1/disk-0.qcow2")
        #expect(manifest.disks[0].note?.contains("missing") == true)
        #expect(manifest.disks[0].note?.contains("only what differs from b1") == true, "\(manifest.disks[0].note ?? "")")
        // Twelve writes of at most 256 KiB (each rounded out to 64 KiB clusters): not the disk's 24 MiB of data.
        #expect(manifest.disks[0].bytesWritten <= 12 * (320 << 10), "\(manifest.disks[0].bytesWritten) bytes written")
        try Self.expectRestores(job.layout.backupDirectory("b2"), equalTo: try vm.snapshot("b2"))
    }

    @Test("an inconsistent bitmap (its QEMU was killed): the next backup is an incremental by comparison, with a note")
    func inconsistentBitmap() async throws {
        var vm = try LabVM()
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "i1", vm: vm.identity, repositoryRoot: repository, parent: nil).run(source: vm.source)
        try vm.change()
        // A writer that opens the image marks its bitmaps in use; killed, it leaves them so.
        let socket = vm.folder + "/writer.sock"
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-nbd")
        writer.arguments = ["-f", "qcow2", "-k", socket, "--pid-file", socket + ".pid", vm.qcow2]
        try writer.run()
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: socket + ".pid") { try await Task.sleep(for: .milliseconds(10)) }
        kill(writer.processIdentifier, SIGKILL)
        writer.waitUntilExit()
        #expect(try tool(["qemu-img", "info", "-U", vm.qcow2]).output.contains("in-use"))

        let job = BackupJob(backupID: "i2", vm: vm.identity, repositoryRoot: repository,
                            parent: .init(backupID: "i1", checkpoints: [0: first.disks[0].checkpoint ?? ""]))
        let manifest = try await job.run(source: vm.source)
        #expect(manifest.disks[0].copy == .incremental)
        #expect(manifest.disks[0].note?.contains("inconsistent") == true, "\(manifest.disks[0].note ?? "no note")")
        #expect(manifest.disks[0].bytesWritten <= 12 * (320 << 10), "\(manifest.disks[0].bytesWritten) bytes written")
        try Self.expectRestores(job.layout.backupDirectory("i2"), equalTo: try vm.snapshot("i2"))
        // The committed backup replaced the parent's checkpoint, inconsistent or not.
        #expect(try vm.bitmaps() == ["sendense-i2"])
    }

    @Test("a cancelled backup leaves no partial folder, no new checkpoint and no qemu-nbd")
    func cancelled() async throws {
        let vm = try LabVM(qcow2Size: 192 << 20)
        let repository = scratchFolder()
        let first = try await BackupJob(backupID: "c1", vm: vm.identity, repositoryRoot: repository, parent: nil).run(source: vm.source)
        let job = BackupJob(backupID: "c2", vm: vm.identity, repositoryRoot: repository, parent: nil)
        let task = Task { try await job.run(source: vm.source) }
        while job.progress.snapshot.bytesTransferred == 0 { try await Task.sleep(for: .milliseconds(2)) }
        let cancelledAt = ContinuousClock.now
        task.cancel()
        let outcome = await task.result
        #expect(ContinuousClock.now - cancelledAt < .seconds(2))
        if case .success = outcome { Issue.record("the cancelled backup completed") }
        #expect(!FileManager.default.fileExists(atPath: job.layout.partialDirectory("c2")))
        #expect(!FileManager.default.fileExists(atPath: job.layout.backupDirectory("c2")))
        #expect(try vm.bitmaps() == [first.disks[0].checkpoint ?? ""])
        let leftovers = try tool(["pgrep", "-f", "qemu-nbd.*\(vm.folder)"])
        #expect(leftovers.output.isEmpty, "qemu-nbd left running: \(leftovers.output)")
    }

    @Test("stale sendense bitmaps go at start; images without bitmaps, raw files, FIFOs and missing files are passed over")
    func staleCheckpoints() async throws {
        let folder = scratchFolder()
        let image = folder + "/with-bitmaps.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "64M"])
        for name in ["sendense-old", "sendense-kept", "someone-elses"] { try mustRun(["qemu-img", "bitmap", "--add", image, name]) }
        let removed = await QemuImageSource.removeStaleCheckpoints(of: image) { $0 == "kept" }
        #expect(removed == ["sendense-old"])
        let left = try mustRun(["qemu-img", "info", "--output=json", image])
        #expect(left.contains("sendense-kept") && left.contains("someone-elses") && !left.contains("sendense-old"))

        let plain = folder + "/plain.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", plain, "64M"])
        let raw = folder + "/disk.raw"
        try mustRun(["qemu-img", "create", "-q", "-f", "raw", raw, "64M"])
        let fifo = folder + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        let started = ContinuousClock.now
        for path in [plain, raw, fifo, folder + "/missing.qcow2"] {
            #expect(await QemuImageSource.removeStaleCheckpoints(of: path) { _ in false } == [], "\(path)")
        }
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test("a restore point restores onto an NBD export (nbdkit memory) byte for byte")
    func restoreToNBD() async throws {
        var vm = try LabVM()
        let repository = scratchFolder()
        let full = try await BackupJob(backupID: "n1", vm: vm.identity, repositoryRoot: repository, parent: nil).run(source: vm.source)
        try vm.change()
        let job = BackupJob(backupID: "n2", vm: vm.identity, repositoryRoot: repository,
                            parent: .init(backupID: "n1", checkpoints: [0: full.disks[0].checkpoint ?? ""]))
        _ = try await job.run(source: vm.source)
        let raws = try vm.snapshot("n2")
        let socket = vm.folder + "/target.sock"
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/nbdkit")
        // The target starts full of 0xff: zero runs must really be written.
        server.arguments = ["-f", "-U", socket, "data", "0xff*50331648"]
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: socket) { try await Task.sleep(for: .milliseconds(20)) }
        try #require(server.isRunning, "nbdkit did not start")
        let progress = JobProgress()
        try await DiskRestore.restore(image: job.layout.backupDirectory("n2") + "/disk-0.qcow2",
                                      to: .nbd(.init(transport: .unix(path: socket))), progress: progress)
        #expect(progress.done >= progress.total)
        let check = try tool(["qemu-img", "compare", "-f", "raw", "-F", "raw", "nbd+unix:///?socket=\(socket)", raws[0]])
        #expect(check.status == 0, "\(check.output)")
    }
}
