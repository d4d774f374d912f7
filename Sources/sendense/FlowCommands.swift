import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

struct FlowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows", abstract: "Protection flows: scheduled backups with retention.",
        subcommands: [List.self, Add.self, Run.self, Executions.self, Prune.self, Enable.self, Disable.self, Delete.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List flows with their next run.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/protection-flows", as: ProtectionFlowListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "NAME", "TARGET", "SCHEDULE", "TYPE", "RETENTION", "ENABLED", "NEXT RUN", "LAST"])
            for flow in answer.value.flows {
                let policy = flow.retention
                let retention = [("daily", policy.keepDaily), ("hourly", policy.keepHourly), ("last", policy.keepLast),
                                 ("monthly", policy.keepMonthly), ("weekly", policy.keepWeekly), ("yearly", policy.keepYearly)]
                    .compactMap { name, value in value.map { "\(name) \($0)" } }.joined(separator: ", ")
                table.rows.append([
                    cell(flow.id), flow.name, "\(flow.targetType) \(cell(flow.targetName))", "\(flow.schedule) (\(flow.timeZone))",
                    cell(flow.backupType), retention.isEmpty ? "all" : retention, cell(flow.enabled), cell(flow.nextRunAt),
                    cell(flow.lastExecutionStatus),
                ])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a flow.",
            discussion: "Example: sendense flows add nightly --vm web1 --schedule '0 2 * * *' --time-zone Europe/Berlin --keep-last 7 --keep-weekly 4")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow name.") var name: String
        @Option(help: "Back up this VM.") var vm: String?
        @Option(help: "Back up the VMs of this protection group (id).") var group: Int?
        @Option(help: "Repository id.") var repository = "1"
        @Option(help: "Cron expression (5 fields) or 'every 4h'.") var schedule: String
        @Option(name: .customLong("time-zone"), help: "IANA time zone of the cron expression.") var timeZone = "UTC"
        @Flag(help: "Every backup full (default: incremental).") var full = false
        @Option(name: .customLong("full-every"), help: "Every Nth backup full, or 'weekly'.") var fullEvery: String?
        @Option(name: .customLong("keep-last")) var keepLast: Int?
        @Option(name: .customLong("keep-daily")) var keepDaily: Int?
        @Option(name: .customLong("keep-weekly")) var keepWeekly: Int?
        @Option(name: .customLong("keep-monthly")) var keepMonthly: Int?
        @Option(name: .customLong("keep-yearly")) var keepYearly: Int?
        @Flag(name: .customLong("boot-check"), help: "Verify each completed backup by booting it in a sandbox (libvirt domains).")
        var bootCheck = false

        func validate() throws {
            if (vm == nil) == (group == nil) { throw ValidationError("give either --vm or --group") }
        }

        func run() async throws {
            guard let repositoryID = Int64(repository) else { throw ValidationError("--repository must be a repository id") }
            var every: FullEvery?
            if let fullEvery {
                guard let parsed = Int(fullEvery).map(FullEvery.runs) ?? (fullEvery == "weekly" ? .weekly : nil) else {
                    throw ValidationError("--full-every must be a number of backups or weekly")
                }
                every = parsed
            }
            let request = ProtectionFlowRequest(
                name: name, targetType: vm != nil ? "vm" : "group", targetId: vm ?? String(group ?? 0), repositoryId: repositoryID,
                schedule: schedule, timeZone: timeZone, backupType: (full ? BackupType.full : .incremental).rawValue, fullEvery: every,
                retention: RetentionPolicy(keepLast: keepLast, keepDaily: keepDaily, keepWeekly: keepWeekly, keepMonthly: keepMonthly,
                                           keepYearly: keepYearly), bootCheck: bootCheck)
            let answer = try await APIClient.make(options).send(.POST, "/protection-flows", body: request, as: ProtectionFlowResponse.self)
            if options.json { return try answer.printJSON() }
            print("created flow \(answer.value.id) \(name); next run \(cell(answer.value.nextRunAt))")
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a flow now.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/protection-flows/\(id)/execute", as: FlowExecutionResponse.self)
            if options.json { return try answer.printJSON() }
            print("started execution \(answer.value.id) of flow \(id) (\(answer.value.vms.count) VMs)")
        }
    }

    struct Executions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A flow's runs, newest first.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/protection-flows/\(id)/executions", as: FlowExecutionListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "STATUS", "TRIGGER", "STARTED", "COMPLETED", "VMS"])
            for execution in answer.value.executions {
                let vms = execution.vms.map { "\($0.vmName): \($0.status.rawValue)" }
                table.rows.append([cell(execution.id), cell(execution.status), execution.trigger, cell(execution.startedAt),
                                   cell(execution.completedAt), vms.joined(separator: ", ")])
            }
            print(table.render())
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply a flow's retention now.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        @Flag(name: .customLong("dry-run"), help: "Only say what would be removed and merged.") var dryRun = false

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/protection-flows/\(id)/prune", body: PruneRequest(dryRun: dryRun),
                                                                as: PruneResponse.self)
            if options.json { return try answer.printJSON() }
            for result in answer.value.results {
                let removed = result.removed
                print("\(result.vmName): keep \(result.kept.count), \(dryRun ? "would remove" : "removed") \(removed.count)\(removed.isEmpty ? "" : ": " + removed.joined(separator: ", "))")
                if let skipped = result.skipped { print("  \(skipped)") }
                for (id, date) in result.immutableUntil.sorted(by: { $0.key < $1.key }) { print("  \(id) immutable until \(date)") }
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a flow.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).send(.PUT, "/protection-flows/\(id)", body: ProtectionFlowRequest(enabled: true),
                                                       as: ProtectionFlowResponse.self)
            print("flow \(id) enabled")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a flow (it keeps its backups).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).send(.PUT, "/protection-flows/\(id)", body: ProtectionFlowRequest(enabled: false),
                                                       as: ProtectionFlowResponse.self)
            print("flow \(id) disabled")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a flow (its backups stay).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            try await APIClient.make(options).send(.DELETE, "/protection-flows/\(id)")
            print("deleted flow \(id)")
        }
    }
}

struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups", abstract: "Protection groups: sets of VMs for flows.",
        subcommands: [List.self, Add.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List groups.")
        @OptionGroup var options: ClientOptions
        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/protection-groups", as: ProtectionGroupListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "NAME", "VMS"])
            for group in answer.value.groups {
                table.rows.append([cell(group.id), group.name, group.vmNames.joined(separator: ", ")])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a group of VMs.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Group name.") var name: String
        @Argument(help: "VM names.") var vms: [String] = []
        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/protection-groups", body: ProtectionGroupRequest(name: name, vmNames: vms),
                                                                as: ProtectionGroupResponse.self)
            if options.json { return try answer.printJSON() }
            print("created group \(answer.value.id) \(name) with \(vms.count) VM(s)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a group.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Group id.") var id: Int
        func run() async throws {
            try await APIClient.make(options).send(.DELETE, "/protection-groups/\(id)")
            print("deleted group \(id)")
        }
    }
}
