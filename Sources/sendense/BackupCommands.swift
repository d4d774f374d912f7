import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Start, watch, list, cancel and verify backups.",
        subcommands: [Start.self, List.self, Show.self, Chain.self, Cancel.self, Verify.self, BootCheck.self, BootChecks.self, Delete.self])

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
            guard let repositoryID = Int64(repository) else { throw ValidationError("--repository must be a repository id") }
            let request = StartBackupRequest(vmName: vmName, repositoryID: repositoryID, backupType: full ? .full : .incremental,
                                             diskIndexes: disks.isEmpty ? nil : disks)
            let answer = try await client.send(.POST, "/backups", body: request, as: StartBackupResponse.self)
            let id = answer.value.backupId
            if options.json && !wait { return try answer.printJSON() }
            // With --json the output is one JSON document: the final state.
            if !options.json {
                print("started \(answer.value.backupType.rawValue) backup \(id)")
                if let note = answer.value.note { print("note: \(note)") }
            }
            guard wait else { return }
            let final = try await follow(client, id, quiet: options.json)
            if options.json { return try final.printJSON() }
            guard final.value.status == .completed else {
                throw CLIError("backup \(id) \(final.value.status.rawValue): \(cell(final.value.errorMessage))")
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
            let answer = try await APIClient.make(options).send(.GET, "/backups?" + query.joined(separator: "&"), as: BackupListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["BACKUP", "VM", "TYPE", "STATUS", "SIZE (GiB)", "DISKS", "CREATED", "SECONDS"])
            for backup in answer.value.backups {
                table.rows.append([backup.backupId, backup.vmName, cell(backup.backupType), cell(backup.status), cell(backup.totalSizeGb),
                                   cell(backup.diskCount), cell(backup.createdAt), cell(backup.durationSeconds)])
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one backup with per-disk progress.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/backups/\(backupID)", as: BackupDetailResponse.self)
            if options.json { return try answer.printJSON() }
            print(summary(answer.value))
            var table = Table(headers: ["DISK", "STATUS", "PROGRESS", "COPIED", "IMAGE"])
            for disk in answer.value.disks {
                table.rows.append([cell(disk.diskIndex), cell(disk.status), "\(cell(disk.progressPercent))%",
                                   humanBytes(disk.bytesTransferred), disk.qcow2Path])
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
            let answer = try await APIClient.make(options).send(.GET, "/backups/chain?vm_name=\(name)&repository_id=\(repository)",
                                                                as: ChainResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["#", "BACKUP", "TYPE", "PARENT", "SIZE (GiB)", "RESTORABLE", "CREATED"])
            for link in answer.value.chain {
                table.rows.append([cell(link.sequenceNumber), link.backupId, cell(link.backupType), cell(link.parentBackupId),
                                   cell(link.sizeGb), cell(link.isRestorable), cell(link.createdAt)])
            }
            print(table.render())
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a running backup.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            _ = try await APIClient.make(options).send(.POST, "/backups/\(backupID)/cancel", as: MessageResponse.self)
            print("cancelling \(backupID)")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-read a backup and check it against its manifest.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/backups/\(backupID)/verify", as: VerifyResponse.self)
            if options.json { return try answer.printJSON() }
            let report = answer.value
            guard report.ok else { throw CLIError("backup \(backupID) is damaged: \(cell(report.firstMismatch))") }
            print("backup \(backupID) ok: \(report.runsChecked) runs, \(humanBytes(report.bytesChecked)) re-read")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a backup (with --cascade, also the backups built on it).")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String
        @Flag var cascade = false

        func run() async throws {
            let answer = try await APIClient.make(options).send(.DELETE, "/backups/\(backupID)" + (cascade ? "?cascade=true" : ""),
                                                                as: MessageResponse.self)
            print("deleted: \((answer.value.deleted ?? []).joined(separator: ", "))")
        }
    }
}

/// One line on a backup's state.
func summary(_ backup: BackupDetailResponse) -> String {
    "\(backup.backupId) \(backup.status.rawValue) \(backup.backupType.rawValue) "
        + "\(cell(backup.progressPercent))% \(humanBytes(backup.bytesTransferred)) of \(humanBytes(backup.totalBytes)) "
        + "phase \(cell(backup.currentPhase))"
}

/// Follows a backup until it ends, printing its progress once a second (unless quiet). The
/// hub's event stream says the moment it ends: polling alone ended up to a second late,
/// which every script chaining commands paid. Without the stream (an old hub, a proxy that
/// buffers it) the polling still ends it.
func follow(_ client: APIClient, _ id: String, quiet: Bool = false) async throws -> Answer<BackupDetailResponse> {
    let ended = Signal()
    let listener = Task {
        try? await client.readEvents { event in
            guard EventName(rawValue: event.name)?.endsJob == true,
                  let fields = try? JSONDecoder().decode([String: String].self, from: Data(event.data.utf8)),
                  fields["job_id"] == id else { return true }
            ended.raise()
            return false
        }
    }
    defer { listener.cancel() }
    while true {
        let backup = try await client.send(.GET, "/backups/\(id)", as: BackupDetailResponse.self)
        if !quiet { print(summary(backup.value)) }
        if backup.value.status.isFinal { return backup }
        if ended.isRaised {
            try await Task.sleep(for: .milliseconds(100))  // announced ended, not yet recorded so: look again soon
        } else {
            await ended.wait(upTo: .seconds(1))
        }
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore", abstract: "Get VMs, disks, files and folders back from backups.",
        subcommands: [Disk.self, VM.self, FileRestoreCommands.Mount.self, FileRestoreCommands.Mounts.self, FileRestoreCommands.List.self,
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
            let target: DiskRestoreRequest.Target = if let path { .file(path, format: format) } else { .nbd(nbd ?? "") }
            let started = try await client.send(.POST, "/restore/disk", body: DiskRestoreRequest(backupId: backupID, diskIndex: diskIndex, target: target),
                                                as: DiskRestoreResponse.self)
            let job = started.value.jobId
            while true {
                let status = try await client.send(.GET, "/restore/disk/\(job)", as: DiskRestoreResponse.self).value
                print("\(job) \(status.status.rawValue) \(cell(status.progressPercent))%")
                if status.status == .completed { return }
                if status.status != .inProgress { throw CLIError("restore \(status.status.rawValue): \(cell(status.errorMessage))") }
                try await Task.sleep(for: .seconds(1))
            }
        }
    }
}
