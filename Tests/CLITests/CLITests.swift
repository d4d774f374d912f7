import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `sendense` binary as a user runs it: `sendense hub` in its own
/// process, the client commands against it, then SIGTERM.
@Suite("sendense command line", .serialized, .removesScratch)
struct CLITests {
    static var binary: String { sendenseBinary }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the CLI to completion with `input` on standard input.
    static func sendense(_ arguments: [String], input: String = "", environment: [String: String]) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    /// Starts `sendense hub` on a free loopback port and waits for the line
    /// that says which port it got.
    static func startHub(dataDirectory: String, log: FileHandle, home: String, arguments: [String] = []) async throws -> (Process, String) {
        let hub = Process()
        hub.executableURL = URL(fileURLWithPath: Self.binary)
        hub.arguments = ["hub", "--data-dir", dataDirectory, "--port", "0", "--bind", "127.0.0.1"] + arguments
        hub.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": home]
        let pipe = Pipe()
        hub.standardOutput = log
        hub.standardError = pipe
        try hub.run()
        // Copy stderr to the log while looking for the listening line.
        var seen = ""
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            log.write(data)
            seen += String(decoding: data, as: UTF8.self)
            if let range = seen.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression) {
                let url = String(seen[range].dropFirst("listening on ".count))
                // Keep draining stderr into the log in the background.
                let handle = pipe.fileHandleForReading
                handle.readabilityHandler = { h in
                    let chunk = h.availableData
                    if chunk.isEmpty { h.readabilityHandler = nil } else { log.write(chunk) }
                }
                return (hub, url)
            }
        }
        kill(hub.processIdentifier, SIGKILL)
        throw CLIFailure("the hub did not start: \(seen)")
    }

    /// A folder of its own for one test: the hub's data dir and log, the client's config and home.
    struct Workspace {
        let work: String
        var data: String { work + "/data" }
        let log: FileHandle
        var environment: [String: String]

        init(_ name: String) throws {
            work = scratchFolder(name)
            guard FileManager.default.createFile(atPath: work + "/hub.log", contents: nil) else { throw CLIFailure("cannot create \(work)/hub.log") }
            log = try FileHandle(forWritingTo: URL(fileURLWithPath: work + "/hub.log"))
            environment = ["HOME": work, "SENDENSE_CONFIG_DIR": work + "/config", "PATH": "/usr/bin:/bin"]
        }

        /// Starts `sendense hub` on the data dir and logs the client in as admin (the password of this data dir's first start).
        func startHubAndLogIn(arguments: [String] = []) async throws -> (Process, String) {
            let (hub, url) = try await CLITests.startHub(dataDirectory: data, log: log, home: work, arguments: arguments)
            let password = try String(contentsOfFile: data + "/admin-password", encoding: .utf8)
            let login = try CLITests.sendense(["login", "--url", url, "--password-stdin"], input: password, environment: environment)
            guard login.status == 0 else {
                kill(hub.processIdentifier, SIGKILL)
                throw CLIFailure("login failed: \(login.stderr)")
            }
            return (hub, url)
        }

        func remove() { try? FileManager.default.removeItem(atPath: work) }
    }

    struct CLIFailure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test("hub serves, the client logs in and manages repositories and users, SIGTERM shuts down cleanly")
    func endToEnd() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let work = scratchFolder("cli")
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let logPath = work + "/hub.log"
        #expect(FileManager.default.createFile(atPath: logPath, contents: nil))
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))

        let (hub, hubURL) = try await Self.startHub(dataDirectory: work + "/data", log: log, home: work)
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        let password = try String(contentsOfFile: work + "/data/admin-password", encoding: .utf8)
        let environment = ["HOME": work, "SENDENSE_CONFIG_DIR": work + "/config", "PATH": "/usr/bin:/bin"]

        let login = try Self.sendense(["login", "--url", hubURL, "--username", "admin", "--password-stdin"],
                                      input: password, environment: environment)
        #expect(login.status == 0, "\(login.stderr)")
        #expect(login.stdout.contains("logged in"))
        let configMode = try FileManager.default.attributesOfItem(atPath: work + "/config/config.json")[.posixPermissions] as? NSNumber
        #expect(configMode?.intValue == 0o600)
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/config/config.json"))) as? [String: Any]
        let token = try #require(saved?["token"] as? String)

        let repos = try Self.sendense(["repos", "list"], environment: environment)
        #expect(repos.status == 0, "\(repos.stderr)")
        #expect(repos.stdout.contains("local"))
        #expect(repos.stdout.contains(work + "/data/repository"))
        #expect(repos.stdout.hasPrefix("ID"))

        let added = try Self.sendense(["repos", "add", "second", "--path", work + "/second"], environment: environment)
        #expect(added.status == 0, "\(added.stderr)")
        let json = try Self.sendense(["repos", "list", "--json"], environment: environment)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(parsed?["count"] as? Int == 2)

        let nested = try Self.sendense(["repos", "add", "inner", "--path", work + "/second/inner"], environment: environment)
        #expect(nested.status != 0)
        #expect(nested.stderr.contains("overlaps"))

        let user = try Self.sendense(["users", "add", "erin", "--role", "operator"], input: "password-e\n", environment: environment)
        #expect(user.status == 0, "\(user.stderr)")
        let users = try Self.sendense(["users"], environment: environment)
        #expect(users.stdout.contains("erin") && users.stdout.contains("operator"))

        let vms = try Self.sendense(["vms"], environment: environment)
        #expect(vms.status == 0)
        #expect(vms.stdout.hasPrefix("NAME"))

        #expect(try Self.sendense(["logout"], environment: environment).status == 0)
        let after = try Self.sendense(["repos", "list", "--url", hubURL], environment: environment)
        #expect(after.status != 0)
        #expect(after.stderr.contains("not logged in"))

        // Resetting a password works on the data dir, even while the hub runs.
        let reset = try Self.sendense(["admin", "reset-password", "erin", "--data-dir", work + "/data"], environment: environment)
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(reset.stdout.contains("new password of erin: "))

        kill(hub.processIdentifier, SIGTERM)
        for _ in 0..<100 where hub.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!hub.isRunning, "the hub did not stop on SIGTERM")
        #expect(hub.terminationStatus == 0)
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(text.contains("catalog closed"))
        // The generated password is shown once, in the first-start banner;
        // no other password or token ever reaches the log.
        #expect(text.components(separatedBy: password.trimmingCharacters(in: .newlines)).count == 2)
        #expect(!text.contains("password-e"))
        #expect(!text.contains(token))
        #expect(!FileManager.default.fileExists(atPath: work + "/config/config.json"))  // logout forgot the token
    }

    static func shell(_ command: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", command]
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "\(command) failed")
    }

    /// SHA-256 of every byte a qcow2 image (with its backing chain) reads as, streamed by nbdcopy from qemu-nbd.
    static func contentHash(_ image: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "set -o pipefail; nbdcopy -- [ qemu-nbd -r -f qcow2 \"$0\" ] - | sha256sum", image]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "hashing \(image) failed")
        return String(output.prefix(64))
    }

    /// The id in `started full backup <id>`, the first line `backup start` prints.
    static func startedID(_ output: Output) -> String? {
        output.stdout.split(separator: "\n").first?.split(separator: " ").last.map(String.init)
    }

    /// PIDs of NBD servers serving sockets in this data dir's run folder.
    static func serversOf(_ data: String) throws -> String {
        let pgrep = Process()
        pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        pgrep.arguments = ["-f", "qemu-nbd.*\(data)/run"]
        let pipe = Pipe()
        pgrep.standardOutput = pipe
        try pgrep.run()
        pgrep.waitUntilExit()
        return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    static func json(_ output: Output) -> [String: Any] {
        ((try? JSONSerialization.jsonObject(with: Data(output.stdout.utf8))) as? [String: Any]) ?? [:]
    }

    @Test("kill -9 of the hub mid-backup: after restart no partial, no orphan qemu-nbd, a failed row, and the next incremental is right")
    func killedMidBackup() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let work = scratchFolder("kill")
        let disk = work + "/vda.qcow2"
        try Self.shell("head -c 128M /dev/urandom > \(work)/seed.raw && qemu-img convert -f raw -O qcow2 \(work)/seed.raw \(disk) && rm \(work)/seed.raw")
        #expect(FileManager.default.createFile(atPath: work + "/hub.log", contents: nil))
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: work + "/hub.log"))
        let data = work + "/data"
        let environment = ["HOME": work, "SENDENSE_CONFIG_DIR": work + "/config", "PATH": "/usr/bin:/bin"]

        var (hub, url) = try await Self.startHub(dataDirectory: data, log: log, home: work)
        let password = try String(contentsOfFile: data + "/admin-password", encoding: .utf8)
        #expect(try Self.sendense(["login", "--url", url, "--password-stdin"], input: password, environment: environment).status == 0)
        let added = try Self.sendense(["vms", "add", "big", "--disk", disk + ":vda"], environment: environment)
        #expect(added.status == 0, "\(added.stderr)")
        let first = try Self.sendense(["backup", "start", "big", "--full", "--wait"], environment: environment)
        #expect(first.status == 0, "\(first.stderr)")
        let firstID = try #require(Self.startedID(first))
        // The job list reads the same registry: the backup is there, completed; an unknown job cannot be cancelled.
        let jobs = try Self.sendense(["jobs", "--type", "backup"], environment: environment)
        #expect(jobs.status == 0 && jobs.stdout.contains(firstID) && jobs.stdout.contains("completed"), "\(jobs.stdout)\(jobs.stderr)")
        let unknown = try Self.sendense(["jobs", "cancel", "verify-nosuch"], environment: environment)
        #expect(unknown.status != 0 && unknown.stderr.contains("job not found"), "\(unknown.stderr)")

        // A second full backup, killed while it copies. Its qemu-nbd runs 1 ms in every
        // 50 (a slow disk), so the copy is surely under way, not over, when the hub dies.
        let second = Self.json(try Self.sendense(["backup", "start", "big", "--full", "--json"], environment: environment))
        let secondID = try #require(second["backup_id"] as? String)
        var servers: [Int32] = []
        for _ in 0..<2000 where servers.isEmpty {
            servers = try Self.serversOf(data).split(separator: "\n").compactMap { Int32($0) }
            usleep(1000)
        }
        var copying = false
        for round in 0..<1000 where !copying {
            for pid in servers { kill(pid, SIGCONT) }
            usleep(1000)
            for pid in servers { kill(pid, SIGSTOP) }
            usleep(49_000)
            if round % 5 == 4 {
                let state = Self.json(try Self.sendense(["backup", "show", secondID, "--json"], environment: environment))
                copying = state["status"] as? String == "in_progress" && (state["bytes_transferred"] as? Int ?? 0) > 0
            }
        }
        #expect(copying, "the second backup never reached in_progress")
        // Running again before the hub dies: a stopped member of a group orphaned by that death gets SIGHUP.
        for pid in servers { kill(pid, SIGCONT) }
        kill(hub.processIdentifier, SIGKILL)
        hub.waitUntilExit()
        let partial = data + "/repository/vms/big/\(secondID).partial"
        // What the killed hub left: its partial folder and its qemu-nbd.
        #expect(FileManager.default.fileExists(atPath: partial))
        #expect(try !Self.serversOf(data).isEmpty)

        (hub, url) = try await Self.startHub(dataDirectory: data, log: log, home: work)
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        var environment2 = environment
        environment2["SENDENSE_URL"] = url
        let state = Self.json(try Self.sendense(["backup", "show", secondID, "--json", "--url", url], environment: environment2))
        #expect(state["status"] as? String == "failed")
        #expect(state["error_message"] as? String == "interrupted by hub restart")
        #expect(!FileManager.default.fileExists(atPath: partial))
        #expect(try Self.serversOf(data).isEmpty, "a qemu-nbd of the killed hub still runs")

        // The next incremental builds on the last committed backup.
        try Self.shell("qemu-io -f qcow2 -c 'write -P 0x77 5M 1M' -c 'write -z 100M 2M' \(disk) > /dev/null")
        let third = try Self.sendense(["backup", "start", "big", "--wait", "--url", url], environment: environment2)
        #expect(third.status == 0, "\(third.stderr)")
        let thirdID = try #require(Self.startedID(third))
        let shown = Self.json(try Self.sendense(["backup", "show", thirdID, "--json", "--url", url], environment: environment2))
        #expect(shown["backup_type"] as? String == "incremental")
        #expect(shown["parent_backup_id"] as? String == firstID)
        let image = try #require((shown["disks"] as? [[String: Any]])?.first?["qcow2_path"] as? String)
        try Self.shell("qemu-img compare -f qcow2 -F qcow2 \(image) \(disk) > /dev/null")
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }

    @Test("backup start --wait ends when the hub announces the end (its event stream), not at its next poll")
    func waitEndsAtOnce() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let space = try Workspace("wait")
        let work = space.work, environment = space.environment
        defer { space.remove() }
        try Self.shell("qemu-img create -q -f qcow2 \(work)/vda.qcow2 64M && qemu-io -f qcow2 -c 'write -P 0x5a 0 16M' \(work)/vda.qcow2 > /dev/null")
        let (hub, url) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        #expect(try Self.sendense(["vms", "add", "vm", "--disk", work + "/vda.qcow2:vda"], environment: environment).status == 0)
        // The test's own view of the stream: each line with the time it came.
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/config/config.json"))) as? [String: Any]
        let token = try #require(config?["token"] as? String)
        let listener = Process()
        listener.executableURL = URL(fileURLWithPath: "/bin/bash")
        listener.arguments = ["-c", """
            curl -sN -H "Authorization: Bearer \(token)" \(url)/api/v1/events |
            while IFS= read -r line; do echo "$(date +%s.%N) $line"; done > \(work)/events.log
            """]
        try listener.run()
        defer { listener.terminate() }  // its curl ends with the hub's connection
        try await Task.sleep(for: .milliseconds(500))
        for _ in 0..<3 {
            let run = try Self.sendense(["backup", "start", "vm", "--full", "--wait", "--json"], environment: environment)
            let ended = Date().timeIntervalSince1970
            let id = try #require(Self.json(run)["backup_id"] as? String, "\(run.stdout) \(run.stderr)")
            #expect(Self.json(run)["status"] as? String == "completed")
            try await Task.sleep(for: .milliseconds(200))  // the listener's last line written
            let lines = try String(contentsOfFile: work + "/events.log", encoding: .utf8).split(separator: "\n")
            let announced = try #require(lines.first { $0.contains(id) && $0.contains(#""status":"completed""#) }, "no completion event for \(id)")
            let late = ended - (Double(announced.split(separator: " ")[0]) ?? 0)
            // Here 0.06 s; polling once a second ended 0.97 s late on this backup.
            #expect(late < 0.3, "backup start --wait ended \(late) s after the hub announced the end")
        }
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }

    @Test("restore mount, ls, get (file and tar.gz folder), mounts and umount from the command line")
    func fileRestore() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let space = try Workspace("files")
        let work = space.work, environment = space.environment
        try FileManager.default.createDirectory(atPath: work + "/tree/docs/deep", withIntermediateDirectories: true)
        defer { space.remove() }
        try Data("hello from the backup\n".utf8).write(to: URL(fileURLWithPath: work + "/tree/docs/deep/note.txt"))
        try Self.shell("head -c 3M /dev/urandom > \(work)/tree/docs/blob.bin")
        try Self.shell("mkfs.ext4 -q -F -b 4096 -d \(work)/tree \(work)/fs.raw 32M && qemu-img convert -q -f raw -O qcow2 \(work)/fs.raw \(work)/vda.qcow2")
        let (hub, _) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        #expect(try Self.sendense(["vms", "add", "fs1", "--disk", work + "/vda.qcow2:vda"], environment: environment).status == 0)
        let backup = try Self.sendense(["backup", "start", "fs1", "--full", "--wait"], environment: environment)
        #expect(backup.status == 0, "\(backup.stdout) \(backup.stderr)")
        let backupID = try #require(Self.startedID(backup), "\(backup.stderr)")

        let mountRun = try Self.sendense(["restore", "mount", backupID, "--json"], environment: environment)
        let mounted = Self.json(mountRun)
        let mountID = try #require(mounted["mount_id"] as? String, "\(mountRun.stdout) \(mountRun.stderr)")
        #expect(mounted["filesystem_type"] as? String == "ext4")
        let listing = try Self.sendense(["restore", "ls", mountID, "/docs"], environment: environment)
        #expect(listing.status == 0 && listing.stdout.contains("deep") && listing.stdout.contains("blob.bin"), "\(listing.stdout)\(listing.stderr)")
        let got = try Self.sendense(["restore", "get", mountID, "/docs/blob.bin", "-o", work + "/blob.out"], environment: environment)
        #expect(got.status == 0, "\(got.stderr)")
        try Self.shell("cmp \(work)/tree/docs/blob.bin \(work)/blob.out")
        let folder = try Self.sendense(["restore", "get", mountID, "/docs", "--archive", "tar.gz", "-o", work + "/docs.tar.gz"], environment: environment)
        #expect(folder.status == 0, "\(folder.stderr)")
        try Self.shell("mkdir \(work)/out && tar -xzf \(work)/docs.tar.gz -C \(work)/out && diff -r \(work)/tree/docs \(work)/out/docs")
        let missing = try Self.sendense(["restore", "get", mountID, "/docs/nope.txt", "-o", work + "/nope"], environment: environment)
        #expect(missing.status != 0 && missing.stderr.contains("not found"), "\(missing.stderr)")
        #expect(!FileManager.default.fileExists(atPath: work + "/nope.partial"))
        #expect(try Self.sendense(["restore", "mounts"], environment: environment).stdout.contains(mountID))
        #expect(try Self.sendense(["restore", "umount", mountID], environment: environment).status == 0)
        #expect(!(try Self.sendense(["restore", "mounts"], environment: environment).stdout.contains(mountID)))
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }

    @Test("vcenter add (password on stdin), test, discover, add-vms, then a backup of the VMware VM from the command line")
    func vcenter() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let sim = try VCSim(vms: 4, diskMB: 8)
        let space = try Workspace("vc")
        let data = space.data, environment = space.environment
        defer { space.remove() }
        try Self.shell("head -c 1M /dev/urandom | dd of=\(sim.flatExtent(vm: "DC0_H0_VM0")) bs=64k seek=16 conv=notrunc status=none")
        let (hub, _) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }

        let added = try Self.sendense(["vcenter", "add", "lab", sim.host, "--port", String(sim.port), "--username", sim.info.username,
                                       "--thumbprint", sim.info.sha1_thumbprint, "--json"], input: sim.info.password + "\n", environment: environment)
        let id = try #require(Self.json(added)["id"] as? Int, "\(added.stdout) \(added.stderr)")
        let test = try Self.sendense(["vcenter", "test", String(id)], environment: environment)
        #expect(test.status == 0 && test.stdout.contains("4 VMs"), "\(test.stdout) \(test.stderr)")
        let listing = try Self.sendense(["vcenter", "list"], environment: environment)
        #expect(listing.stdout.contains("pinned") && !listing.stdout.contains(sim.info.password))
        let discovered = try Self.sendense(["vcenter", "discover", String(id), "--filter", "*H0_VM*"], environment: environment)
        #expect(discovered.stdout.contains("DC0_H0_VM0") && discovered.stdout.contains("2 VMs in"), "\(discovered.stdout) \(discovered.stderr)")
        #expect(try Self.sendense(["vcenter", "add-vms", String(id), "DC0_H0_VM0"], environment: environment).status == 0)
        let backup = try Self.sendense(["backup", "start", "DC0_H0_VM0", "--full", "--wait"], environment: environment)
        #expect(backup.status == 0, "\(backup.stdout) \(backup.stderr)")
        let images = try FileManager.default.subpathsOfDirectory(atPath: data + "/repository").filter { $0.hasSuffix("disk-0.qcow2") }
        let image = try #require(images.first)
        let compare = try tool(["qemu-img", "compare", "-f", "qcow2", "-F", "raw", data + "/repository/" + image, sim.flatExtent(vm: "DC0_H0_VM0")])
        #expect(compare.status == 0, "\(compare.output)")
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }

    @Test("kill -9 of the hub during a retention merge: after restart every point restores exactly, and the prune then completes")
    func killedMidMerge() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let space = try Workspace("merge")
        let work = space.work, data = space.data
        var environment = space.environment
        defer { space.remove() }
        let disk = work + "/vda.qcow2"
        // 256 MiB of data: merging it into the next point takes long enough to be killed in the middle,
        // and the whole test stays under 1 GiB of disk (CI machines have little).
        try Self.shell("head -c 256M /dev/urandom > \(work)/seed.raw && truncate -s 384M \(work)/seed.raw && qemu-img convert -f raw -O qcow2 \(work)/seed.raw \(disk) && rm \(work)/seed.raw")
        var (hub, url) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        #expect(try Self.sendense(["vms", "add", "big", "--disk", disk + ":vda"], environment: environment).status == 0)
        let flow = Self.json(try Self.sendense(["flows", "add", "keep2", "--vm", "big", "--schedule", "every 1d", "--keep-last", "2", "--json"], environment: environment))
        let flowID = try #require(flow["id"] as? Int)

        // Three points, each with the SHA-256 of every byte of the disk as it was (raw copies would triple the disk use).
        var hashes: [String: String] = [:]
        for round in 0..<3 {
            if round > 0 { try Self.shell("qemu-io -f qcow2 -c 'write -P \(round) \(round * 100)M 3M' -c 'write -z \(round * 7)M 1M' \(disk) > /dev/null") }
            let backup = try Self.sendense(["backup", "start", "big", "--wait"], environment: environment)
            #expect(backup.status == 0, "\(backup.stderr)")
            let id = try #require(Self.startedID(backup))
            hashes[id] = try Self.contentHash(disk)
        }

        // keep_last 2: the full folds into the second point. Kill the hub while the merged image is written.
        let prune = Process()
        prune.executableURL = URL(fileURLWithPath: Self.binary)
        prune.arguments = ["flows", "prune", String(flowID)]
        prune.environment = environment
        prune.standardOutput = FileHandle.nullDevice
        prune.standardError = FileHandle.nullDevice
        try prune.run()
        let vmFolder = data + "/repository/vms/big"
        var caught = false
        for _ in 0..<5000 where !caught {
            let merging = (FileManager.default.subpaths(atPath: vmFolder) ?? []).filter { $0.hasSuffix(".merging") }
            if let file = merging.first, let size = try? FileManager.default.attributesOfItem(atPath: vmFolder + "/" + file)[.size] as? Int, size > 16 << 20 {
                kill(hub.processIdentifier, SIGKILL)
                caught = true
            }
            if !prune.isRunning { break }
            usleep(1000)
        }
        hub.waitUntilExit()
        prune.waitUntilExit()
        try #require(caught, "the merge ended before the hub could be killed in its middle")

        (hub, url) = try await Self.startHub(dataDirectory: data, log: space.log, home: work)
        environment["SENDENSE_URL"] = url
        #expect((FileManager.default.subpaths(atPath: vmFolder) ?? []).allSatisfy { !$0.hasSuffix(".merging") }, "the interrupted merge's file is gone")
        func expectEveryPointRestores() throws -> [String] {
            let chain = Self.json(try Self.sendense(["backup", "chain", "big", "--json"], environment: environment))
            let points = chain["chain"] as? [[String: Any]] ?? []
            for point in points {
                let id = try #require(point["backup_id"] as? String)
                let image = vmFolder + "/\(id)/disk-0.qcow2"
                try Self.shell("qemu-img check \(image) > /dev/null")
                #expect(try Self.contentHash(image) == hashes[id], "\(id) does not restore the disk as it was")
            }
            return points.compactMap { $0["backup_id"] as? String }
        }
        #expect(try expectEveryPointRestores().count >= 2)
        // Pruning again finishes the job.
        let again = try Self.sendense(["flows", "prune", String(flowID)], environment: environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("big: keep 2"), "\(again.stdout)")
        // The flow as the list shows it (typed answers), and a group of the VM.
        let flows = try Self.sendense(["flows"], environment: environment)
        #expect(flows.status == 0 && flows.stdout.contains("keep2") && flows.stdout.contains("last 2"), "\(flows.stdout)\(flows.stderr)")
        let group = try Self.sendense(["groups", "add", "web", "big"], environment: environment)
        #expect(group.status == 0 && group.stdout.contains("with 1 VM(s)"), "\(group.stdout)\(group.stderr)")
        #expect(try Self.sendense(["groups"], environment: environment).stdout.contains("web"))
        let kept = try expectEveryPointRestores()
        #expect(kept == hashes.keys.sorted().suffix(2).map { $0 }, "\(kept)")
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }

    @Test("the catalog is lost: admin rebuild-catalog brings back the VM, its backups and its chain")
    func rebuildCatalog() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let space = try Workspace("rebuild")
        let work = space.work, data = space.data, environment = space.environment
        defer { space.remove() }
        let disk = work + "/vda.qcow2"
        try Self.shell("qemu-img create -q -f qcow2 \(disk) 16M && qemu-io -f qcow2 -c 'write -P 7 0 2M' \(disk) > /dev/null")
        var (hub, _) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        #expect(try Self.sendense(["vms", "add", "lab", "--disk", disk + ":vda"], environment: environment).status == 0)
        var ids: [String] = []
        for round in 0..<2 {
            if round > 0 { try Self.shell("qemu-io -f qcow2 -c 'write -P 9 5M 1M' \(disk) > /dev/null") }
            let backup = try Self.sendense(["backup", "start", "lab", "--wait"], environment: environment)
            ids.append(try #require(Self.startedID(backup), "\(backup.stderr)"))
        }
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()

        try Self.shell("rm -f \(data)/catalog.sqlite* \(data)/admin-password")
        let rebuilt = try Self.sendense(["admin", "rebuild-catalog", "--data-dir", data], environment: environment)
        #expect(rebuilt.status == 0 && rebuilt.stdout.contains("2 backups imported"), "\(rebuilt.stdout) \(rebuilt.stderr)")
        // A new catalog, a new first admin: log in with its password.
        (hub, _) = try await space.startHubAndLogIn()
        let chain = Self.json(try Self.sendense(["backup", "chain", "lab", "--json"], environment: environment))
        #expect((chain["chain"] as? [[String: Any]])?.compactMap { $0["backup_id"] as? String } == ids)
        // The chain continues: an incremental on the rebuilt catalog.
        try Self.shell("qemu-io -f qcow2 -c 'write -P 3 9M 64k' \(disk) > /dev/null")
        let next = Self.json(try Self.sendense(["backup", "start", "lab", "--wait", "--json"], environment: environment))
        #expect(next["backup_type"] as? String == "incremental" && next["parent_backup_id"] as? String == ids[1], "\(next)")
        kill(hub.processIdentifier, SIGTERM)
        hub.waitUntilExit()
    }
}
