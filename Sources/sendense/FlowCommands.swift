import ArgumentParser
import Foundation

struct FlowsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flows", abstract: "Protection flows: scheduled backups with retention.",
        subcommands: [List.self, Add.self, Run.self, Executions.self, Prune.self, Enable.self, Disable.self, Delete.self],
        defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List flows with their next run.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/protection-flows")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "NAME", "TARGET", "SCHEDULE", "TYPE", "RETENTION", "ENABLED", "NEXT RUN", "LAST"])
            for flow in (answer as? [String: Any])?["flows"] as? [[String: Any]] ?? [] {
                let retention = (flow["retention"] as? [String: Any] ?? [:]).sorted { $0.key < $1.key }
                    .map { "\($0.key.replacingOccurrences(of: "keep_", with: "")) \(cell($0.value))" }.joined(separator: ", ")
                table.rows.append([
                    cell(flow["id"]), cell(flow["name"]), "\(cell(flow["target_type"])) \(cell(flow["target_name"]))",
                    "\(cell(flow["schedule"])) (\(cell(flow["time_zone"])))", cell(flow["backup_type"]), retention.isEmpty ? "all" : retention,
                    flow["enabled"] as? Bool == true ? "yes" : "no", cell(flow["next_run_at"]), cell(flow["last_execution_status"]),
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

        func validate() throws {
            if (vm == nil) == (group == nil) { throw ValidationError("give either --vm or --group") }
        }

        func run() async throws {
            var retention: [String: Int] = [:]
            for (key, value) in [("keep_last", keepLast), ("keep_daily", keepDaily), ("keep_weekly", keepWeekly),
                                 ("keep_monthly", keepMonthly), ("keep_yearly", keepYearly)] {
                if let value { retention[key] = value }
            }
            var body: [String: Any] = [
                "name": name, "target_type": vm != nil ? "vm" : "group", "target_id": vm ?? String(group ?? 0),
                "repository_id": repository, "schedule": schedule, "time_zone": timeZone,
                "backup_type": full ? "full" : "incremental", "retention": retention,
            ]
            if let fullEvery { body["full_every"] = Int(fullEvery).map { $0 as Any } ?? fullEvery }
            let answer = try await APIClient.make(options).call(.POST, "/protection-flows", body: body)
            if options.json { return try printJSON(answer) }
            let flow = answer as? [String: Any] ?? [:]
            print("created flow \(cell(flow["id"])) \(name); next run \(cell(flow["next_run_at"]))")
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run a flow now.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).call(.POST, "/protection-flows/\(id)/execute")
            if options.json { return try printJSON(answer) }
            let execution = answer as? [String: Any] ?? [:]
            print("started execution \(cell(execution["id"])) of flow \(id) (\((execution["vms"] as? [Any])?.count ?? 0) VMs)")
        }
    }

    struct Executions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A flow's runs, newest first.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/protection-flows/\(id)/executions")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "STATUS", "TRIGGER", "STARTED", "COMPLETED", "VMS"])
            for execution in (answer as? [String: Any])?["executions"] as? [[String: Any]] ?? [] {
                let vms = (execution["vms"] as? [[String: Any]] ?? []).map { "\(cell($0["vm_name"])): \(cell($0["status"]))" }
                table.rows.append([cell(execution["id"]), cell(execution["status"]), cell(execution["trigger"]),
                                   cell(execution["started_at"]), cell(execution["completed_at"]), vms.joined(separator: ", ")])
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
            let answer = try await APIClient.make(options).call(.POST, "/protection-flows/\(id)/prune", body: ["dry_run": dryRun])
            if options.json { return try printJSON(answer) }
            for result in (answer as? [String: Any])?["results"] as? [[String: Any]] ?? [] {
                let removed = result["removed"] as? [String] ?? []
                let kept = result["kept"] as? [String] ?? []
                print("\(cell(result["vm_name"])): keep \(kept.count), \(dryRun ? "would remove" : "removed") \(removed.count)\(removed.isEmpty ? "" : ": " + removed.joined(separator: ", "))")
                if let skipped = result["skipped"] as? String { print("  \(skipped)") }
                for (id, date) in result["immutable_until"] as? [String: String] ?? [:] { print("  \(id) immutable until \(date)") }
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a flow.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).call(.PUT, "/protection-flows/\(id)", body: ["enabled": true])
            print("flow \(id) enabled")
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Disable a flow (it keeps its backups).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).call(.PUT, "/protection-flows/\(id)", body: ["enabled": false])
            print("flow \(id) disabled")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a flow (its backups stay).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Flow id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).call(.DELETE, "/protection-flows/\(id)")
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
            let answer = try await APIClient.make(options).call(.GET, "/protection-groups")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "NAME", "VMS"])
            for group in (answer as? [String: Any])?["groups"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(group["id"]), cell(group["name"]), (group["vm_names"] as? [String] ?? []).joined(separator: ", ")])
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
            let answer = try await APIClient.make(options).call(.POST, "/protection-groups", body: ["name": name, "vm_names": vms])
            if options.json { return try printJSON(answer) }
            print("created group \(cell((answer as? [String: Any])?["id"])) \(name) with \(vms.count) VM(s)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a group.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Group id.") var id: Int
        func run() async throws {
            _ = try await APIClient.make(options).call(.DELETE, "/protection-groups/\(id)")
            print("deleted group \(id)")
        }
    }
}
