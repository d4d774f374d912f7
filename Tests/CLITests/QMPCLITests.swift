import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A running QEMU protected through the hub process by its QMP socket, and
/// the hub killed in the middle of its live backup.
@Suite("Live QMP backups through sendense hub", .serialized, .removesScratch)
struct QMPCLITests {
    @Test("register a running QEMU by its QMP socket and back it up live; kill -9 of the hub mid-backup leaves nothing in QEMU, the parent's bitmap records again, and the next backup is right")
    func liveBackupAndKill() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build first: \(CLITests.binary) is missing")
        let guest = try QemuGuest(diskMiB: 512)
        defer { guest.stop() }
        let workspace = try CLITests.Workspace("qmp")
        var (hub, url) = try await workspace.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        var environment = workspace.environment
        func sendense(_ arguments: String...) throws -> CLITests.Output { try CLITests.sendense(arguments, environment: environment) }
        func state() throws -> (bitmaps: [(String, Bool)], nodes: Int, jobs: String, exports: String) {
            let block = try JSONSerialization.jsonObject(with: Data(guest.qmp("query-block").utf8)) as? [[String: Any]] ?? []
            let bitmaps = ((block.first?["inserted"] as? [String: Any])?["dirty-bitmaps"] as? [[String: Any]] ?? [])
                .map { ($0["name"] as? String ?? "", $0["recording"] as? Bool ?? false) }.sorted { $0.0 < $1.0 }
            let nodes = try guest.qmp("query-named-block-nodes").components(separatedBy: "\"sd-f").count - 1
            return (bitmaps, nodes, try guest.qmp("query-block-jobs").trimmingCharacters(in: .whitespacesAndNewlines),
                    try guest.qmp("query-block-exports").trimmingCharacters(in: .whitespacesAndNewlines))
        }

        let refused = try sendense("vms", "add", "nowhere", "--qmp", workspace.work + "/no.sock")
        #expect(refused.status != 0 && refused.stderr.contains("no.sock"), "\(refused.stderr)")
        // A guest agent socket that cannot be connected is refused too, and nothing is registered.
        let noAgent = try sendense("vms", "add", "pve-101", "--qmp", guest.qmpSocket, "--agent", workspace.work + "/no.qga")
        #expect(noAgent.status != 0 && noAgent.stderr.contains("no.qga"), "\(noAgent.stderr)")
        #expect(try sendense("vms", "list", "--json").stdout.contains("pve-101") == false)
        let added = try sendense("vms", "add", "pve-101", "--qmp", guest.qmpSocket)
        #expect(added.status == 0, "\(added.stderr)")
        let first = try sendense("backup", "start", "pve-101", "--full", "--wait")
        #expect(first.status == 0, "\(first.stderr)")
        let firstID = try #require(CLITests.startedID(first))
        #expect(try state().bitmaps.map(\.0) == ["sendense-\(firstID)"])

        // An incremental, killed as soon as QEMU serves its point in time (the
        // transaction done: the parent's bitmap disabled, the new one recording).
        sleep(2)  // what the guest writes meanwhile makes the copy last a little
        let second = CLITests.json(try sendense("backup", "start", "pve-101", "--json"))
        let secondID = try #require(second["backup_id"] as? String)
        var folder: String?
        for _ in 0..<200_000 where folder == nil {
            if let found = LibvirtCLITests.sessionFolder(secondID), FileManager.default.fileExists(atPath: found + "/nbd.sock") { folder = found }
            if folder == nil { usleep(100) }
        }
        let session = try #require(folder, "the live backup never began")
        kill(hub.processIdentifier, SIGKILL)
        hub.waitUntilExit()

        (hub, url) = try await CLITests.startHub(dataDirectory: workspace.data, log: workspace.log, home: workspace.work)
        environment["SENDENSE_URL"] = url
        #expect(CLITests.json(try sendense("backup", "show", secondID, "--json"))["status"] as? String == "failed")
        let after = try state()
        #expect(after.nodes == 0 && after.jobs == "[]" && after.exports == "[]", "\(after)")
        // The parent's bitmap records again (with whatever the killed backup's held), the killed one is gone.
        #expect(after.bitmaps.map(\.0) == ["sendense-\(firstID)"] && after.bitmaps.allSatisfy(\.1), "\(after.bitmaps)")
        #expect(!FileManager.default.fileExists(atPath: session))
        #expect(guest.isRunning)
        let log = try String(contentsOfFile: workspace.work + "/hub.log", encoding: .utf8)
        #expect(log.contains("gave the changes of bitmap sendense-\(secondID)"), "the restarted hub did not give the killed backup's changes back")

        // The next backup: an incremental on the first, equal to the disk paused at its checkpoint.
        _ = try guest.qmp("stop")
        let reference = workspace.work + "/reference.raw"
        try guest.copyDisk(to: reference)
        let (thirdID, done) = try LibvirtCLITests.backupResumingAtCheckpoint("pve-101", environment: environment) { _ = try guest.qmp("cont") }
        #expect(done["status"] as? String == "completed" && done["backup_type"] as? String == "incremental", "\(done)")
        #expect(done["parent_backup_id"] as? String == firstID)
        let image = try #require((done["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
        _ = try mustRun(["qemu-img", "check", image])
        _ = try mustRun(["qemu-img", "compare", "-F", "raw", image, reference])
        #expect(try state().bitmaps.map(\.0) == ["sendense-\(thirdID)"])
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }
}
