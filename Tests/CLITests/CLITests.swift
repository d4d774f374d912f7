import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `sendense` binary as a user runs it: `sendense hub` in its own
/// process, the client commands against it, then SIGTERM.
@Suite("sendense command line", .serialized)
struct CLITests {
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    static var binary: String {
        ProcessInfo.processInfo.environment["SENDENSE_BINARY"] ?? packageRoot + "/.build/debug/sendense"
    }

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

    @Test("hub serves, the client logs in and manages repositories and users, SIGTERM shuts down cleanly")
    func endToEnd() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build first: \(Self.binary) is missing")
        let work = FileManager.default.temporaryDirectory.path + "/sendense-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let logPath = work + "/hub.log"
        #expect(FileManager.default.createFile(atPath: logPath, contents: nil))
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))

        let hub = Process()
        hub.executableURL = URL(fileURLWithPath: Self.binary)
        hub.arguments = ["hub", "--data-dir", work + "/data", "--port", "0", "--bind", "127.0.0.1"]
        hub.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin", "HOME": work]
        hub.standardOutput = log
        hub.standardError = log
        try hub.run()
        defer { if hub.isRunning { kill(hub.processIdentifier, SIGKILL) } }

        // The hub logs the port it got; wait for that line.
        var url: String?
        for _ in 0..<200 where url == nil {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://127\.0\.0\.1:\d+"#, options: .regularExpression) {
                url = String(text[range].dropFirst("listening on ".count))
            }
        }
        let hubURL = try #require(url, "the hub did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
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
}
