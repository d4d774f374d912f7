import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// VM restore through the hub process, with a real libvirtd and a booted
/// guest: a restore point's VM comes back as a new domain with disks of its
/// own, into a folder or a storage pool; bad input writes nothing.
@Suite("VM restore through sendense hub", .serialized, .removesScratch)
struct VMRestoreCLITests {
    static func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
    }

    @Test("a live backup's VM as a new domain: into a folder and started, it boots to its agent; into a storage pool, its disk is the point's bytes and the pool lists it; a file in the way, a taken name and other bad input write nothing")
    func restoreVM() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build first: \(CLITests.binary) is missing")
        let original = try LabDomain(diskMiB: 256, writer: .filesystem, agent: true)
        defer { original.remove() }
        let workspace = try CLITests.Workspace("vm-restore")
        let (hub, _) = try await workspace.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        func sendense(_ arguments: String...) throws -> CLITests.Output { try CLITests.sendense(arguments, environment: workspace.environment) }

        #expect(try sendense("libvirt", "add", original.name).status == 0)
        let backup = CLITests.json(try sendense("backup", "start", original.name, "--full", "--wait", "--json"))
        let backupID = try #require(backup["backup_id"] as? String, "\(backup)")
        try #require(backup["status"] as? String == "completed", "\(backup)")
        let image = try #require((backup["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String, "\(backup)")
        let folder = workspace.work + "/vms"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        let domainsBefore = try RecoveryCLITests.domains()

        // Bad input: refused with its reason and status; no domain, no file.
        let unknown = try sendense("restore", "vm", "backup-none-1", "--to", folder)
        #expect(unknown.status != 0 && unknown.stderr.contains("backup not found") && unknown.stderr.contains("404"), "\(unknown.stderr)")
        let taken = try sendense("restore", "vm", backupID, "--to", folder, "--name", original.name)
        #expect(taken.status != 0 && taken.stderr.contains("exists") && taken.stderr.contains("409"), "\(taken.stderr)")
        let noFolder = try sendense("restore", "vm", backupID, "--to", folder + "/missing")
        #expect(noFolder.status != 0 && noFolder.stderr.contains("does not exist") && noFolder.stderr.contains("422"), "\(noFolder.stderr)")
        let hubs = try sendense("restore", "vm", backupID, "--to", workspace.data)
        #expect(hubs.status != 0 && hubs.stderr.contains("belongs to the hub"), "\(hubs.stderr)")
        let noPool = try sendense("restore", "vm", backupID, "--pool", "sendense-no-such-pool")
        #expect(noPool.status != 0 && noPool.stderr.contains("422"), "\(noPool.stderr)")
        let remote = try sendense("restore", "vm", backupID, "--to", folder, "--uri", "qemu+ssh://kvm9/system")
        #expect(remote.status != 0 && remote.stderr.contains("own host") && remote.stderr.contains("422"), "\(remote.stderr)")
        let both = try sendense("restore", "vm", backupID, "--to", folder, "--pool", "default")
        #expect(both.status != 0 && both.stderr.contains("exactly one"), "\(both.stderr)")
        let plainImage = workspace.work + "/plain.qcow2"
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", plainImage, "16M"])
        let plainVM = "plain-\(UUID().uuidString.prefix(6).lowercased())"
        #expect(try sendense("vms", "add", plainVM, "--disk", plainImage + ":vda").status == 0)
        let plain = CLITests.json(try sendense("backup", "start", plainVM, "--full", "--wait", "--json"))
        let plainID = try #require(plain["backup_id"] as? String, "\(plain)")
        let noConfiguration = try sendense("restore", "vm", plainID, "--to", folder)
        #expect(noConfiguration.status != 0 && noConfiguration.stderr.contains("no libvirt domain configuration"), "\(noConfiguration.stderr)")
        // A file where a disk would go: never overwritten, and nothing else is made.
        let blocker = folder + "/\(original.name)-x-vda.qcow2"
        try Data("mine".utf8).write(to: URL(fileURLWithPath: blocker))
        let inTheWay = try sendense("restore", "vm", backupID, "--to", folder, "--name", original.name + "-x")
        #expect(inTheWay.status != 0 && inTheWay.stderr.contains("already exists") && inTheWay.stderr.contains("409"), "\(inTheWay.stderr)")
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "mine")
        try FileManager.default.removeItem(atPath: blocker)
        #expect(try RecoveryCLITests.domains() == domainsBefore && Self.files(in: folder).isEmpty)

        // Into a folder, started, with no NIC: a persistent domain of its own that boots to its guest agent.
        let name = original.name + "-r"
        defer { _ = try? tool(LibvirtLab.virsh + ["destroy", name]); _ = try? tool(LibvirtLab.virsh + ["undefine", name, "--nvram"]) }
        let clock = ContinuousClock()
        let begun = clock.now
        let restored = try sendense("restore", "vm", backupID, "--to", folder, "--name", name, "--network", "none", "--start", "--json")
        let restoreTime = clock.now - begun
        let restore = CLITests.json(restored)
        #expect(restore["status"] as? String == "completed" && restore["domain_uuid"] is String, "\(restored.stderr) \(restore)")
        let file = folder + "/\(name)-vda.qcow2"
        #expect((restore["disks"] as? [[String: Any]])?.map { $0["path"] as? String } == [file], "\(restore)")
        let info = try mustRun(LibvirtLab.virsh + ["dominfo", name])
        #expect(info.contains("Persistent:     yes") && info.contains("running"), "\(info)")
        #expect(try mustRun(LibvirtLab.virsh + ["domblklist", name]).contains(file))
        #expect(!(try mustRun(LibvirtLab.virsh + ["dumpxml", name])).contains("<interface"))
        var ping = try tool(LibvirtLab.virsh + ["qemu-agent-command", name, "{\"execute\":\"guest-ping\"}"])
        for _ in 0..<240 where ping.status != 0 {
            usleep(500_000)
            ping = try tool(LibvirtLab.virsh + ["qemu-agent-command", name, "{\"execute\":\"guest-ping\"}"])
        }
        #expect(ping.status == 0, "the restored guest's agent did not answer: \(ping.output)")
        print("VM restore: domain \(name) defined and started \(restoreTime) after the request; its agent answers \(clock.now - begun) after it")
        let jobs = CLITests.json(try sendense("jobs", "list", "--type", "restore", "--json"))
        let job = (jobs["jobs"] as? [[String: Any]])?.first { $0["job_id"] as? String == restore["job_id"] as? String }
        #expect(job?["status"] as? String == "completed" && job?["vm_name"] as? String == original.name, "\(jobs)")
        // Its point may go: the restored VM owns its disk.
        _ = try mustRun(LibvirtLab.virsh + ["destroy", name])
        let check = try tool(["qemu-img", "check", file])
        #expect(check.status == 0 && check.output.contains("No errors"), "\(check.output)")

        // Into a storage pool of files, not started: the disk is the point's, bit for bit, and libvirt lists it as a volume.
        let poolName = "sendense-test-\(UUID().uuidString.prefix(6).lowercased())"
        let poolFolder = workspace.work + "/pool"
        try FileManager.default.createDirectory(atPath: poolFolder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        _ = try mustRun(LibvirtLab.virsh + ["pool-define-as", poolName, "dir", "--target", poolFolder])
        defer { _ = try? tool(LibvirtLab.virsh + ["pool-destroy", poolName]); _ = try? tool(LibvirtLab.virsh + ["pool-undefine", poolName]) }
        let inactive = try sendense("restore", "vm", backupID, "--pool", poolName)
        #expect(inactive.status != 0 && inactive.stderr.contains("not active"), "\(inactive.stderr)")
        _ = try mustRun(LibvirtLab.virsh + ["pool-start", poolName])
        let pooled = name + "-p"
        defer { _ = try? tool(LibvirtLab.virsh + ["undefine", pooled, "--nvram"]) }
        let inPool = CLITests.json(try sendense("restore", "vm", backupID, "--pool", poolName, "--name", pooled, "--keep-macs", "--json"))
        #expect(inPool["status"] as? String == "completed" && inPool["pool"] as? String == poolName, "\(inPool)")
        let pooledFile = poolFolder + "/\(pooled)-vda.qcow2"
        #expect(try mustRun(LibvirtLab.virsh + ["domstate", pooled]).hasPrefix("shut off"))
        #expect(try mustRun(LibvirtLab.virsh + ["vol-list", poolName]).contains(pooledFile))
        let pooledCheck = try tool(["qemu-img", "check", pooledFile])
        #expect(pooledCheck.status == 0 && pooledCheck.output.contains("No errors"), "\(pooledCheck.output)")
        let compare = try tool(["qemu-img", "compare", "-U", pooledFile, image])
        #expect(compare.status == 0 && compare.output.contains("identical"), "\(compare.output)")

        // The point can be deleted once no restore reads it; the restored VMs stay.
        #expect(try sendense("backup", "delete", backupID).status == 0)
        #expect(try RecoveryCLITests.domains().contains(pooled) && FileManager.default.fileExists(atPath: file))
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }
}
