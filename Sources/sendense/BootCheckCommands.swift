import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

extension BackupCommand {
    /// `sendense backup boot-check`: boot a restore point in a sandbox and judge it by its heartbeat.
    struct BootCheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "boot-check",
            abstract: "Boot a restore point's VM in a sandbox (no network) until its guest shows a heartbeat; keep the verdict and a screenshot.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The restore point (backup id) of a libvirt domain.") var backupID: String
        @Option(help: "Wait for this text on the serial console instead of the guest agent.") var console: String?
        @Option(help: "Seconds to wait for the heartbeat (10-3600).") var timeout: Int?
        @Option(help: "Save the screenshot to this file once the check ends.") var screenshot: String?

        func run() async throws {
            let client = try APIClient.make(options)
            let request = BootCheckRequest(heartbeat: console == nil ? .agent : .console, consolePattern: console, timeoutSeconds: timeout)
            var answer = try await client.send(.POST, "/backups/\(backupID)/boot-check", body: request, as: BootCheckResponse.self)
            while answer.value.status == .running {
                try await Task.sleep(for: .seconds(1))
                answer = try await client.send(.GET, "/boot-checks/\(answer.value.checkId)", as: BootCheckResponse.self)
            }
            let check = answer.value
            if let screenshot, let url = check.screenshotUrl {
                _ = try await client.download(String(url.dropFirst("/api/v1".count)), to: screenshot)
            }
            if options.json { try answer.printJSON() } else {
                let heartbeat = check.heartbeatSeconds.map { String(format: " after %.1f s", $0) } ?? ""
                print("\(check.checkId): \(check.status.rawValue)\(heartbeat): \(check.reason ?? "-")")
            }
            if check.status != .passed { throw CLIError("boot check \(check.status.rawValue): \(check.reason ?? "-")") }
        }
    }

    /// `sendense backup boot-checks`: a restore point's verdicts.
    struct BootChecks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "boot-checks", abstract: "List a restore point's boot checks, newest first.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/backups/\(backupID)/boot-checks", as: BootCheckListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["CHECK", "STATUS", "HEARTBEAT", "AFTER", "CHECKED", "REASON"])
            for check in answer.value.bootChecks {
                table.rows.append([check.checkId, cell(check.status), cell(check.heartbeat), check.heartbeatSeconds.map { String(format: "%.1f s", $0) } ?? "-",
                                   cell(check.createdAt), cell(check.reason)])
            }
            print(table.render())
        }
    }
}
