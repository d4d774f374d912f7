import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A running libvirt domain protected through the hub process, as an admin
/// does it: discover, add, back up live; then the hub killed in the middle
/// of a live backup, and what the next start must clean.
@Suite("Live libvirt backups through sendense hub", .serialized, .removesScratch)
struct LibvirtCLITests {
    /// The folder QEMU works in for this backup, wherever this hub keeps them.
    static func sessionFolder(_ backupID: String) -> String? {
        let root = "/run/sendense"
        for hub in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let folder = "\(root)/\(hub)/\(backupID)"
            if FileManager.default.fileExists(atPath: folder) { return folder }
        }
        return nil
    }

    /// Starts a backup of `vm` (its guest paused by the caller), runs `resume`
    /// as soon as the checkpoint is taken, and answers the backup once it ended.
    static func backupResumingAtCheckpoint(_ vm: String, environment: [String: String], resume: () throws -> Void) throws -> (String, [String: Any]) {
        let started = CLITests.json(try CLITests.sendense(["backup", "start", vm, "--json"], environment: environment))
        let id = try #require(started["backup_id"] as? String, "\(started)")
        var phase = "starting"
        for _ in 0..<3000 where ["starting", "snapshot"].contains(phase) {
            phase = CLITests.json(try CLITests.sendense(["backup", "show", id, "--json"], environment: environment))["current_phase"] as? String ?? "starting"
            usleep(10_000)
        }
        try resume()
        var done: [String: Any] = [:]
        for _ in 0..<600 where !["completed", "failed"].contains(done["status"] as? String ?? "") {
            usleep(100_000)
            done = CLITests.json(try CLITests.sendense(["backup", "show", id, "--json"], environment: environment))
        }
        return (id, done)
    }

    static func agent(_ domain: LabDomain, _ command: String) throws -> String {
        try domain.virsh("qemu-agent-command", domain.name, "{\"execute\":\"\(command)\"}")
    }

    @Test("discover, add and back up a running domain; kill -9 of the hub mid-backup leaves no job, no frozen guest, no stray checkpoint, and the next backup is right")
    func liveBackupAndKill() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build first: \(CLITests.binary) is missing")
        let domain = try LabDomain(diskMiB: 512, writer: .filesystem, agent: true)
        defer { domain.remove() }
        let workspace = try CLITests.Workspace("libvirt")
        var (hub, url) = try await workspace.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        var environment = workspace.environment
        func sendense(_ arguments: String...) throws -> CLITests.Output { try CLITests.sendense(arguments, environment: environment) }

        // Discovery shows the running domain and its disk; adding it makes a VM of its name.
        let found = CLITests.json(try sendense("libvirt", "discover", "--filter", domain.name, "--json"))
        let listed = try #require((found["domains"] as? [[String: Any]])?.first, "\(found)")
        #expect(listed["name"] as? String == domain.name)
        #expect(listed["power_state"] as? String == "poweredOn")
        #expect((listed["disks"] as? [[String: Any]])?.first?["target"] as? String == "vda")
        #expect(listed["context_id"] is NSNull)
        let added = try sendense("libvirt", "add", domain.name)
        #expect(added.status == 0 && added.stdout.contains("added \(domain.name)"), "\(added.stderr)")
        // Bad input: a URI naming a program for ssh to run is refused with a reason, an unknown domain is not found; nothing is added.
        let hostile = try sendense("libvirt", "discover", "--uri", "qemu+ssh://elsewhere/system?command=/bin/sh")
        #expect(hostile.status != 0 && hostile.stderr.contains("command is not accepted"), "\(hostile.stderr)")
        let unknown = try sendense("libvirt", "add", "no-such-domain-\(UUID().uuidString.prefix(6))")
        #expect(unknown.status != 0 && unknown.stderr.contains("no domain"), "\(unknown.stderr)")

        let first = try sendense("backup", "start", domain.name, "--full", "--wait")
        #expect(first.status == 0, "\(first.stderr)")
        let firstID = try #require(CLITests.startedID(first))
        let shown = CLITests.json(try sendense("backup", "show", firstID, "--json"))
        #expect(shown["consistency"] as? String == "application_consistent", "\(shown)")
        #expect((shown["note"] as? String)?.contains("froze 1 filesystem") == true, "\(shown)")
        #expect(try domain.checkpoints() == ["sendense-\(firstID)"])

        // An incremental, killed as soon as it has begun (freezing, frozen or copying).
        let second = CLITests.json(try sendense("backup", "start", domain.name, "--json"))
        let secondID = try #require(second["backup_id"] as? String)
        var folder: String?
        for _ in 0..<20_000 where folder == nil {
            folder = Self.sessionFolder(secondID)
            if folder == nil { usleep(500) }
        }
        let session = try #require(folder, "the live backup never began")
        kill(hub.processIdentifier, SIGKILL)
        hub.waitUntilExit()

        (hub, url) = try await CLITests.startHub(dataDirectory: workspace.data, log: workspace.log, home: workspace.work)
        environment["SENDENSE_URL"] = url
        let state = CLITests.json(try sendense("backup", "show", secondID, "--json"))
        #expect(state["status"] as? String == "failed")
        // Nothing of the killed backup is left on the domain or the host; the guest runs and is not frozen.
        #expect(try domain.virsh("domjobinfo", domain.name).contains("None"))
        #expect(!FileManager.default.fileExists(atPath: session))
        #expect(try domain.checkpoints() == ["sendense-\(firstID)"])
        #expect(try Self.agent(domain, "guest-fsfreeze-status").contains("thawed"))
        #expect(try domain.virsh("domstate", domain.name).hasPrefix("running"))
        let log = try String(contentsOfFile: workspace.work + "/hub.log", encoding: .utf8)
        #expect(log.contains("removed \(session)"), "the restarted hub did not clean the killed backup's folder")

        // The next backup is an incremental on the first, equal to the disk at its checkpoint.
        _ = try domain.virsh("suspend", domain.name)
        let reference = workspace.work + "/reference.raw"
        try domain.copyDisk(to: reference)
        let (thirdID, done) = try Self.backupResumingAtCheckpoint(domain.name, environment: environment) {
            _ = try domain.virsh("resume", domain.name)
        }
        #expect(done["status"] as? String == "completed", "\(done)")
        #expect(done["backup_type"] as? String == "incremental")
        #expect(done["parent_backup_id"] as? String == firstID)
        // Paused while the checkpoint was taken: the agent could not freeze, and the point says so.
        #expect(done["consistency"] as? String == "crash_consistent")
        let image = try #require((done["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
        _ = try mustRun(["qemu-img", "check", image])
        _ = try mustRun(["qemu-img", "compare", "-F", "raw", image, reference])
        #expect(try domain.checkpoints() == ["sendense-\(thirdID)"])
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }
}
