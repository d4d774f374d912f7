import ArgumentParser
import Foundation
import SendenseCore

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Start, watch, list, cancel and verify backups.",
        subcommands: [Start.self, List.self, Show.self, Chain.self, Cancel.self, Verify.self, Delete.self])

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Back up a VM; with --wait, follow it to the end.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM name.") var vmName: String
        @Option(help: "Repository id.") var repository = "1"
        @Flag(help: "Full backup (default: incremental, full when there is no earlier backup).") var full = false
        @Option(name: .customLong("disk"), help: "Back up only these disk indexes (repeatable).") var disks: [Int] = []
        @Flag(help: "Wait until the backup ends, printing progress.") var wait = false

        func run() async throws {
            let client = try APIClient.make(options)
            var body: [String: Any] = ["vm_name": vmName, "repository_id": repository, "backup_type": full ? "full" : "incremental"]
            if !disks.isEmpty { body["disk_indexes"] = disks }
            let answer = try await client.call(.POST, "/backups", body: body) as? [String: Any]
            let id = cell(answer?["backup_id"])
            if options.json && !wait { return try printJSON(answer) }
            // With --json the output is one JSON document: the final state.
            if !options.json {
                print("started \(cell(answer?["backup_type"])) backup \(id)")
                if let note = answer?["note"] as? String { print("note: \(note)") }
            }
            guard wait else { return }
            let final = try await follow(client, id, quiet: options.json)
            if options.json { return try printJSON(final) }
            guard cell(final?["status"]) == BackupStatus.completed.rawValue else {
                throw CLIError("backup \(id) \(cell(final?["status"])): \(cell(final?["error_message"]))")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List backups, newest first.")
        @OptionGroup var options: ClientOptions
        @Option(name: .customLong("vm"), help: "Only this VM.") var vmName: String?
        @Option(help: "Only this status.") var status: String?
        @Option(help: "At most this many.") var limit = 50

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let vmName { query.append("vm_name=\(vmName.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? vmName)") }
            if let status { query.append("status=\(status)") }
            let answer = try await APIClient.make(options).call(.GET, "/backups?" + query.joined(separator: "&"))
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["BACKUP", "VM", "TYPE", "STATUS", "SIZE (GiB)", "DISKS", "CREATED", "SECONDS"])
            for backup in (answer as? [String: Any])?["backups"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(backup["backup_id"]), cell(backup["vm_name"]), cell(backup["backup_type"]), cell(backup["status"]),
                                   cell(backup["total_size_gb"]), cell(backup["disk_count"]), cell(backup["created_at"]),
                                   cell(backup["duration_seconds"])])
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one backup with per-disk progress.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/backups/\(backupID)") as? [String: Any]
            if options.json { return try printJSON(answer) }
            print(summary(answer))
            var table = Table(headers: ["DISK", "STATUS", "PROGRESS", "COPIED", "IMAGE"])
            for disk in answer?["disks"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(disk["disk_index"]), cell(disk["status"]), "\(cell(disk["progress_percent"]))%",
                                   humanBytes(disk["bytes_transferred"]), cell(disk["qcow2_path"])])
            }
            print(table.render())
        }
    }

    struct Chain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a VM's restore points in a repository.")
        @OptionGroup var options: ClientOptions
        @Argument var vmName: String
        @Option(help: "Repository id.") var repository = "1"

        func run() async throws {
            let name = vmName.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? vmName
            let answer = try await APIClient.make(options).call(.GET, "/backups/chain?vm_name=\(name)&repository_id=\(repository)")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["#", "BACKUP", "TYPE", "PARENT", "SIZE (GiB)", "RESTORABLE", "CREATED"])
            for link in (answer as? [String: Any])?["chain"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(link["sequence_number"]), cell(link["backup_id"]), cell(link["backup_type"]),
                                   cell(link["parent_backup_id"]), cell(link["size_gb"]), cell(link["is_restorable"]), cell(link["created_at"])])
            }
            print(table.render())
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a running backup.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            try await APIClient.make(options).call(.POST, "/backups/\(backupID)/cancel")
            print("cancelling \(backupID)")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read a backup and check it against its manifest.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            let answer = try await APIClient.make(options).call(.POST, "/backups/\(backupID)/verify") as? [String: Any]
            if options.json { return try printJSON(answer) }
            guard cell(answer?["status"]) == "ok" else { throw CLIError("backup \(backupID) is damaged: \(cell(answer?["first_mismatch"]))") }
            print("backup \(backupID) ok: \(cell(answer?["runs_checked"])) runs, \(humanBytes(answer?["bytes_checked"])) re-read")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a backup (with --cascade, also the backups built on it).")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String
        @Flag var cascade = false

        func run() async throws {
            let answer = try await APIClient.make(options).call(.DELETE, "/backups/\(backupID)" + (cascade ? "?cascade=true" : "")) as? [String: Any]
            print("deleted: \((answer?["deleted"] as? [String] ?? []).joined(separator: ", "))")
        }
    }
}

/// One line on a backup's state.
func summary(_ backup: [String: Any]?) -> String {
    "\(cell(backup?["backup_id"])) \(cell(backup?["status"])) \(cell(backup?["backup_type"])) "
        + "\(cell(backup?["progress_percent"]))% \(humanBytes(backup?["bytes_transferred"])) of \(humanBytes(backup?["total_bytes"])) "
        + "phase \(cell(backup?["current_phase"]))"
}

/// Polls a backup once a second until it ends, printing its progress (unless quiet).
func follow(_ client: APIClient, _ id: String, quiet: Bool = false) async throws -> [String: Any]? {
    while true {
        let backup = try await client.call(.GET, "/backups/\(id)") as? [String: Any]
        if !quiet { print(summary(backup)) }
        // Unfinished is started or in_progress; anything else (an unknown word too) ends the wait.
        if let status = backup?["status"] as? String, BackupStatus(rawValue: status)?.isFinal ?? true { return backup }
        try await Task.sleep(for: .seconds(1))
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Get disks, files and folders back from backups.",
        subcommands: [Disk.self, FileRestoreCommands.Mount.self, FileRestoreCommands.Mounts.self, FileRestoreCommands.List.self,
                      FileRestoreCommands.Get.self, FileRestoreCommands.Unmount.self])

    struct Disk: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Restore a disk to a new file on the hub (--path) or onto an NBD export (--nbd).")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String
        @Option(name: .customLong("disk"), help: "Disk index.") var diskIndex = 0
        @Option(help: "New file on the hub.") var path: String?
        @Option(help: "raw or qcow2.") var format = "raw"
        @Option(help: "NBD URI, e.g. nbd+unix:///?socket=/run/target.sock") var nbd: String?

        func validate() throws {
            if (path == nil) == (nbd == nil) { throw ValidationError("give exactly one of --path and --nbd") }
        }

        func run() async throws {
            let client = try APIClient.make(options)
            let target: [String: Any] = if let path { ["type": "file", "path": path, "format": format] } else { ["type": "nbd", "uri": nbd ?? ""] }
            let started = try await client.call(.POST, "/restore/disk", body: ["backup_id": backupID, "disk_index": diskIndex, "target": target]) as? [String: Any]
            let job = cell(started?["job_id"])
            while true {
                let status = try await client.call(.GET, "/restore/disk/\(job)") as? [String: Any]
                let state = cell(status?["status"])
                print("\(job) \(state) \(cell(status?["progress_percent"]))%")
                if state == BackupStatus.completed.rawValue { return }
                if state != BackupStatus.inProgress.rawValue { throw CLIError("restore \(state): \(cell(status?["error_message"]))") }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
