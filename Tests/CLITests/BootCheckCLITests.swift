import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Boot verification through the hub process, with a real libvirtd: a good
/// point's guest answers in its sandbox, one whose disk boots nothing does
/// not; each verdict keeps a screenshot; nothing of the sandbox remains.
@Suite("Boot checks through sendense hub", .serialized, .removesScratch)
struct BootCheckCLITests {
    static func isPNG(_ path: String) -> Bool {
        FileManager.default.contents(atPath: path)?.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
    }

    @Test("a good point passes (guest agent, then console text) with a screenshot; a point whose disk boots nothing fails with the reason and a screenshot of it; the chain shows the verdicts; a flow with boot_check verifies its backup by itself; no sandbox stays; bad input starts nothing")
    func bootCheck() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build first: \(CLITests.binary) is missing")
        // The good point's guest boots from its own disk (MBR, SYSLINUX), as a real VM's does.
        let good = try LabDomain(agent: true, boot: .disk)
        defer { good.remove() }
        let workspace = try CLITests.Workspace("boot-check")
        let (hub, _) = try await workspace.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        func sendense(_ arguments: String...) throws -> CLITests.Output { try CLITests.sendense(arguments, environment: workspace.environment) }

        // A domain whose disk holds no boot loader (stopped: backed up through its image file).
        let bad = "sendense-test-\(UUID().uuidString.prefix(6).lowercased())-nobot"
        let badDisk = workspace.work + "/\(bad).qcow2"
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", badDisk, "16M"])
        let badXML = workspace.work + "/\(bad).xml"
        try """
            <domain type='qemu'><name>\(bad)</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type></os>
              <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(badDisk)'/><target dev='vda' bus='virtio'/></disk></devices>
            </domain>
            """.write(toFile: badXML, atomically: true, encoding: .utf8)
        _ = try mustRun(LibvirtLab.virsh + ["define", badXML])
        defer { _ = try? tool(LibvirtLab.virsh + ["undefine", bad]) }

        #expect(try sendense("libvirt", "add", good.name, bad).status == 0)
        let goodBackup = CLITests.json(try sendense("backup", "start", good.name, "--full", "--wait", "--json"))
        let goodID = try #require(goodBackup["backup_id"] as? String, "\(goodBackup)")
        let badBackup = CLITests.json(try sendense("backup", "start", bad, "--full", "--wait", "--json"))
        let badID = try #require(badBackup["backup_id"] as? String, "\(badBackup)")
        let domainsBefore = try RecoveryCLITests.domains()
        let daemonsBefore = try RecoveryCLITests.storageDaemons()

        // Bad input: refused before anything starts.
        let unknown = try sendense("backup", "boot-check", "backup-none-1")
        #expect(unknown.status != 0 && unknown.stderr.contains("404"), "\(unknown.stderr)")
        let short = try sendense("backup", "boot-check", goodID, "--timeout", "5")
        #expect(short.status != 0 && short.stderr.contains("timeout_seconds must be 10 to 3600") && short.stderr.contains("400"), "\(short.stderr)")
        let plainImage = workspace.work + "/plain.qcow2"
        _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", plainImage, "16M"])
        #expect(try sendense("vms", "add", "plain-boot", "--disk", plainImage + ":vda").status == 0)
        let plain = CLITests.json(try sendense("backup", "start", "plain-boot", "--full", "--wait", "--json"))
        let plainCheck = try sendense("backup", "boot-check", try #require(plain["backup_id"] as? String))
        #expect(plainCheck.status != 0 && plainCheck.stderr.contains("422"), "\(plainCheck.stderr)")
        #expect(CLITests.json(try sendense("backup", "boot-checks", goodID, "--json"))["count"] as? Int == 0)

        // The good point: its guest agent answers in the sandbox; the screen is kept.
        let goodShot = workspace.work + "/good.png"
        let passed = try sendense("backup", "boot-check", goodID, "--screenshot", goodShot, "--json")
        let verdict = CLITests.json(passed)
        #expect(passed.status == 0 && verdict["status"] as? String == "passed", "\(passed.stderr) \(verdict)")
        let seconds = try #require(verdict["heartbeat_seconds"] as? Double, "\(verdict)")
        print("boot check: the guest agent answered \(seconds) s after the request")
        #expect(Self.isPNG(goodShot))
        #expect(try RecoveryCLITests.domains() == domainsBefore && RecoveryCLITests.storageDaemons() == daemonsBefore)
        let sandbox = try #require(verdict["recovery_id"] as? String)
        #expect(CLITests.json(try sendense("recovery", "show", sandbox, "--json"))["state"] as? String == "stopped")
        // Or by a text on its serial console.
        let byConsole = CLITests.json(try sendense("backup", "boot-check", goodID, "--console", "SENDENSE-GUEST-READY", "--json"))
        #expect(byConsole["status"] as? String == "passed" && (byConsole["reason"] as? String)?.contains("SENDENSE-GUEST-READY") == true, "\(byConsole)")

        // The point that boots nothing: no heartbeat in time, and the screen shows why.
        let badShot = workspace.work + "/bad.png"
        let failed = try sendense("backup", "boot-check", badID, "--timeout", "10", "--screenshot", badShot, "--json")
        let badVerdict = CLITests.json(failed)
        #expect(failed.status != 0 && badVerdict["status"] as? String == "failed", "\(failed.stderr) \(badVerdict)")
        #expect((badVerdict["reason"] as? String)?.contains("no heartbeat within 10 s") == true, "\(badVerdict)")
        #expect(Self.isPNG(badShot))
        #expect(try RecoveryCLITests.domains() == domainsBefore && RecoveryCLITests.storageDaemons() == daemonsBefore)

        // The verdicts are kept with the points: listed, and on the chain.
        let listed = CLITests.json(try sendense("backup", "boot-checks", goodID, "--json"))
        #expect(listed["count"] as? Int == 2, "\(listed)")
        let chain = CLITests.json(try sendense("backup", "chain", bad, "--json"))
        #expect((chain["chain"] as? [[String: Any]])?.first?["boot_check"] as? String == "failed", "\(chain)")
        let jobs = CLITests.json(try sendense("jobs", "list", "--type", "boot_check", "--json"))
        #expect((jobs["jobs"] as? [[String: Any]])?.count == 3, "\(jobs)")

        // A flow that verifies by booting: its backup is boot-checked once it completes, without being asked.
        let flow = CLITests.json(try sendense("flows", "add", "verified", "--vm", good.name, "--schedule", "0 3 * * *", "--boot-check", "--json"))
        #expect(flow["boot_check"] as? Bool == true, "\(flow)")
        let flowID = try #require(flow["id"] as? Int)
        #expect(try sendense("flows", "run", String(flowID)).status == 0)
        var flowBackup: String? = nil
        var flowChecks: [[String: Any]] = []
        for _ in 0..<600 where flowChecks.first?["status"] as? String ?? "running" == "running" {
            try await Task.sleep(for: .milliseconds(200))
            let executions = CLITests.json(try sendense("flows", "executions", String(flowID), "--json"))
            flowBackup = ((executions["executions"] as? [[String: Any]])?.first?["vms"] as? [[String: Any]])?.first?["backup_id"] as? String
            guard let flowBackup else { continue }
            flowChecks = CLITests.json(try sendense("backup", "boot-checks", flowBackup, "--json"))["boot_checks"] as? [[String: Any]] ?? []
        }
        #expect(flowChecks.count == 1 && flowChecks.first?["status"] as? String == "passed", "\(flowBackup ?? "no backup") \(flowChecks)")
        #expect(try RecoveryCLITests.domains() == domainsBefore && RecoveryCLITests.storageDaemons() == daemonsBefore)

        // Deleting a point takes its screenshots along.
        let kept = try FileManager.default.contentsOfDirectory(atPath: workspace.data + "/boot-checks")
        #expect(kept.count == 4, "\(kept)")
        #expect(try sendense("backup", "delete", badID).status == 0)
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.data + "/boot-checks").count == 3)
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }
}
