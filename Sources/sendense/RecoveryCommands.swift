import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

struct RecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery", abstract: "Instant recovery: run a restore point's VM from the backup itself, list the sessions, stop one.",
        subcommands: [Start.self, List.self, Show.self, Screenshot.self, Migrate.self, Stop.self], defaultSubcommand: List.self)

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start the VM of a restore point on this host's libvirt; prints the session.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The restore point (backup id).") var backupID: String
        @Option(help: "The new domain's name (default: <vm>-recovered-<id>).") var name: String?
        @Option(help: "'none' for no NIC, or a libvirt network for every NIC (default: as the VM had them, new MAC addresses).") var network: String?
        @Option(help: "The libvirt daemon of this host.") var uri: String?

        func run() async throws {
            let request = RecoveryRequest(backupId: backupID, target: uri.map { .init(uri: $0) }, name: name, network: network)
            let answer = try await APIClient.make(options).send(.POST, "/recoveries", body: request, as: RecoveryResponse.self)
            if options.json { return try answer.printJSON() }
            print("\(answer.value.recoveryId): domain \(answer.value.domainName) runs from backup \(answer.value.backupId)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Running sessions and the newest ended ones, newest first.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/recoveries", as: RecoveryListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["RECOVERY", "STATE", "DOMAIN", "VM STATE", "BACKUP", "CREATED", "ERROR"])
            for session in answer.value.recoveries {
                table.rows.append([session.recoveryId, cell(session.state), session.domainName, cell(session.vmState), session.backupId,
                                   cell(session.createdAt), cell(session.errorMessage)])
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one session.")
        @OptionGroup var options: ClientOptions
        @Argument var recoveryID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/recoveries/\(recoveryID)", as: RecoveryResponse.self)
            if options.json { return try answer.printJSON() }
            let session = answer.value
            print("""
                \(session.recoveryId): \(session.state.rawValue)
                  domain:  \(session.domainName) (\(session.vmState?.rawValue ?? "-")) on \(session.libvirtUri)
                  backup:  \(session.backupId) of \(session.vmName)
                  network: \(session.network ?? "as stored")
                """ + (session.errorMessage.map { "\n  error:   \($0)" } ?? ""))
        }
    }

    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a recovered VM's disks to production storage while it runs, then switch to them; the VM stays, defined for good.")
        @OptionGroup var options: ClientOptions
        @Argument var recoveryID: String
        @Option(help: "An existing folder on this host; each disk becomes <domain>-<disk>.qcow2 in it.") var to: String
        @Flag(help: "Wait until the migration ends.") var wait = false

        func run() async throws {
            let client = try APIClient.make(options)
            var answer = try await client.send(.POST, "/recoveries/\(recoveryID)/migrate", body: RecoveryMigrateRequest(directory: to),
                                               as: RecoveryResponse.self)
            while wait && answer.value.state == .migrating {
                try await Task.sleep(for: .milliseconds(500))
                answer = try await client.send(.GET, "/recoveries/\(recoveryID)", as: RecoveryResponse.self)
            }
            if options.json { return try answer.printJSON() }
            print("\(recoveryID): \(answer.value.state.rawValue)" + (answer.value.errorMessage.map { " (\($0))" } ?? ""))
            if wait && answer.value.state != .migrated { throw CLIError("migration of \(recoveryID) did not complete") }
        }
    }

    struct Screenshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Save the running VM's screen (its console) as a PNG file.")
        @OptionGroup var options: ClientOptions
        @Argument var recoveryID: String
        @Option(help: "The PNG file to write.") var to: String

        func run() async throws {
            let bytes = try await APIClient.make(options).download("/recoveries/\(recoveryID)/screenshot", to: to)
            if !options.json { print("\(to): \(bytes) bytes") }
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a session: its VM is destroyed and what it wrote discarded.")
        @OptionGroup var options: ClientOptions
        @Argument var recoveryID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/recoveries/\(recoveryID)/stop", as: RecoveryResponse.self)
            if options.json { return try answer.printJSON() }
            print("\(recoveryID): \(answer.value.state.rawValue)")
        }
    }
}
