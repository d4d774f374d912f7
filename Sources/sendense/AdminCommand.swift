import ArgumentParser
import Catalog
import Engine
import Foundation
import Hub
import Logging
import SendenseCore

struct AdminCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Maintenance run on the hub's machine, directly on its data dir.",
        subcommands: [ResetPassword.self, RebuildCatalog.self])

    struct RebuildCatalog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild-catalog",
            abstract: "Rebuild VMs, backups and chains from the repositories' manifests (run while the hub is stopped).",
            discussion: "A hub whose database was lost: sendense admin rebuild-catalog --data-dir /var/lib/sendense --repository /backup/repo")

        @Option(name: .customLong("data-dir"), help: "The hub's data dir (its catalog is created when missing).")
        var dataDir = "./data"

        @Option(name: .customLong("repository"), help: "Also register and rescan this local repository folder (repeatable).")
        var repositories: [String] = []

        func run() async throws {
            var logger = Logger(label: "sendense.rebuild")
            logger.logLevel = .warning
            let reports = try await CatalogRebuild.rebuild(dataDirectory: dataDir, repositories: repositories, logger: logger)
            for report in reports {
                print("\(report.repository): \(report.backupsImported) backups imported, \(report.backupsKnown) already known, "
                      + "\(report.vmContextsCreated.count) VMs created")
                for line in report.skipped { print("  skipped \(line)") }
            }
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password for a user and revoke its tokens (works while the hub runs).")

        @Argument(help: "The user name.")
        var user: String

        @Option(name: .customLong("data-dir"), help: "The hub's data dir.")
        var dataDir = "./data"

        @Flag(name: .customLong("password-stdin"), help: "Read the new password from standard input instead of generating one.")
        var passwordStdin = false

        func run() async throws {
            let catalogPath = dataDir + "/catalog.sqlite"
            guard FileManager.default.fileExists(atPath: catalogPath) else {
                throw CLIError("no catalog at \(catalogPath); is --data-dir the hub's data dir?")
            }
            let password: String
            if passwordStdin {
                password = readLine(strippingNewline: true) ?? ""
                if let problem = NameRules.passwordProblem(password) { throw CLIError(problem) }
            } else {
                password = TokenCodec.newPassword()
            }
            let catalog = try CatalogDatabase(path: catalogPath)
            defer { try? catalog.close() }
            guard let record = try await catalog.user(named: user), let id = record.id else {
                throw CLIError("no user named \(user)")
            }
            let hash = try await PasswordHasher(cost: 12).hash(password)
            _ = try await catalog.updateUser(id: id, passwordHash: hash, role: nil)
            if passwordStdin {
                print("password of \(record.username) changed; its tokens are revoked")
            } else {
                print("new password of \(record.username): \(password)")
            }
        }
    }
}
