import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The hub as a dashboard, a Prometheus scraper and a script see it at once:
/// many connections over a mix of routes while backups run. The hub used to
/// hang for good here (synchronous catalog reads parked every thread of
/// Swift's cooperative pool) and then ignore SIGTERM.
@Suite("hub under load", .serialized, .removesScratch)
struct HubLoadTests {
    static var loadScript: String { packageRoot + "/Tests/load/mix.lua" }

    @Test("64 connections over health, jobs, VMs, backups and a file listing while 2 backups run; then it answers within 1 s and stops within 10 s of SIGTERM")
    func concurrentRequestsDuringBackups() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build first: \(CLITests.binary) is missing")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/wrk"), "install wrk (scripts/install-deps.sh --test)")
        let space = try CLITests.Workspace("load")
        let work = space.work, environment = space.environment
        defer { space.remove() }
        // Two VMs: one with an ext4 disk (its backup is browsed), one with 192 MiB of random data.
        try FileManager.default.createDirectory(atPath: work + "/tree/docs", withIntermediateDirectories: true)
        for index in 0..<200 { try Data("file \(index)\n".utf8).write(to: URL(fileURLWithPath: work + "/tree/docs/note-\(index).txt")) }
        try CLITests.shell("head -c 64M /dev/urandom > \(work)/tree/blob.bin")
        try CLITests.shell("mkfs.ext4 -q -F -b 4096 -d \(work)/tree \(work)/fs.raw 160M > /dev/null && qemu-img convert -q -f raw -O qcow2 \(work)/fs.raw \(work)/files.qcow2 && rm \(work)/fs.raw")
        try CLITests.shell("head -c 192M /dev/urandom > \(work)/seed.raw && qemu-img convert -q -f raw -O qcow2 \(work)/seed.raw \(work)/data.qcow2 && rm \(work)/seed.raw")

        let (hub, url) = try await space.startHubAndLogIn()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }
        #expect(try CLITests.sendense(["vms", "add", "files", "--disk", work + "/files.qcow2:vda"], environment: environment).status == 0)
        #expect(try CLITests.sendense(["vms", "add", "data", "--disk", work + "/data.qcow2:vda"], environment: environment).status == 0)
        let first = try CLITests.sendense(["backup", "start", "files", "--full", "--wait"], environment: environment)
        let firstID = try #require(CLITests.startedID(first), "\(first.stdout) \(first.stderr)")
        let mount = CLITests.json(try CLITests.sendense(["restore", "mount", firstID, "--json"], environment: environment))
        let mountID = try #require(mount["mount_id"] as? String)
        let saved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: work + "/config/config.json"))) as? [String: Any]
        let token = try #require(saved?["token"] as? String)

        // Two full backups, kept running through the load: their NBD servers
        // get 1 ms in every 50 (a slow source), so neither ends early.
        var backups: [String] = []
        for vm in ["files", "data"] {
            let started = CLITests.json(try CLITests.sendense(["backup", "start", vm, "--full", "--json"], environment: environment))
            backups.append(try #require(started["backup_id"] as? String, "\(started)"))
        }
        let throttle = Throttle()
        let throttling = Task.detached { try throttle.run(servingFrom: space.data) }

        let wrk = try Self.wrk(url: url, token: token, seconds: 8, connections: 64, paths: [
            "/api/v1/health", "/api/v1/jobs", "/api/v1/vm-contexts", "/api/v1/backups?limit=50",
            "/api/v1/restore/\(mountID)/files?path=/docs", "/api/v1/health",
        ])
        throttle.stop()
        let throttled = try await throttling.value
        print("load: \(wrk.requests) requests in 8 s (\(wrk.requests / 8) req/s), \(wrk.timeouts) timed out, \(wrk.failures) not 2xx; backups throttled \(throttled) times")
        #expect(throttled > 0, "the backups' NBD servers were never throttled: the backups ended before the load")

        // Straight after: a request is answered within 1 s. (A hub that hangs
        // fails here, and is killed on the way out.)
        let health = try tool(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "1", url + "/api/v1/health"])
        try #require(health.output == "200", "the hub did not answer /health within 1 s after the load (\(health.output)); wrk:\n\(wrk.report)")
        #expect(wrk.requests >= 500, "the hub answered only \(wrk.requests) requests in 8 s:\n\(wrk.report)")
        #expect(wrk.failures == 0, "answers other than 2xx:\n\(wrk.report)")

        // The backups went on and end well.
        for id in backups {
            var status = ""
            for _ in 0..<600 where status != "completed" && status != "failed" {
                let shown = try tool(["curl", "-s", "--max-time", "2", "-H", "Authorization: Bearer \(token)", url + "/api/v1/backups/\(id)"])
                status = ((try? JSONSerialization.jsonObject(with: Data(shown.output.utf8))) as? [String: Any])?["status"] as? String ?? ""
                if status != "completed" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(status == "completed", "backup \(id) ended \(status)")
        }

        let stopping = ContinuousClock.now
        kill(hub.processIdentifier, SIGTERM)
        while hub.isRunning, ContinuousClock.now - stopping < .seconds(10) { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!hub.isRunning, "the hub was still running 10 s after SIGTERM")
        print("load: the hub stopped \(ContinuousClock.now - stopping) after SIGTERM")
    }

    struct WrkResult {
        var requests: Int
        var failures: Int
        var timeouts: Int
        var report: String
    }

    /// Runs wrk with the mixed-route script; 2 threads, as many connections as asked.
    static func wrk(url: String, token: String, seconds: Int, connections: Int, paths: [String]) throws -> WrkResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/wrk")
        process.arguments = ["-t2", "-c\(connections)", "-d\(seconds)s", "--timeout", "5s", "-s", loadScript, url]
        process.environment = ["SENDENSE_TOKEN": token, "SENDENSE_PATHS": paths.joined(separator: ","), "PATH": "/usr/bin:/bin"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "wrk failed:\n\(report)")
        func number(after label: String) -> Int {
            guard let line = report.split(separator: "\n").first(where: { $0.contains(label) }),
                  let range = line.range(of: label) else { return 0 }
            return Int(line[range.upperBound...].trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") ?? 0
        }
        let requests = report.split(separator: "\n").first { $0.contains("requests in") }
            .flatMap { Int($0.trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") } ?? 0
        return WrkResult(requests: requests, failures: number(after: "Non-2xx or 3xx responses:"),
                         timeouts: number(after: "timeout"), report: report)
    }
}

/// Holds the NBD servers of a data dir's backups to 1 ms of every 50 until stopped.
final class Throttle: Sendable {
    private let stopped = Atomic<Bool>(false)

    func stop() { stopped.store(true, ordering: .relaxed) }

    /// Answers how many rounds found a server to hold.
    func run(servingFrom data: String) throws -> Int {
        var rounds = 0
        var servers: [Int32] = []
        while !stopped.load(ordering: .relaxed) {
            servers = try CLITests.serversOf(data).split(separator: "\n").compactMap { Int32($0) }
            for pid in servers { kill(pid, SIGCONT) }
            usleep(1000)
            for pid in servers { kill(pid, SIGSTOP) }
            if !servers.isEmpty { rounds += 1 }
            usleep(49_000)
        }
        for pid in servers { kill(pid, SIGCONT) }
        return rounds
    }
}
