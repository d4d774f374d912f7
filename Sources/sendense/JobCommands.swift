import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

struct JobsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jobs", abstract: "List jobs of every kind (backup, restore, verify, prune, merge, cleanup) and cancel one.",
        subcommands: [List.self, Cancel.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Running jobs and the newest others, newest first.")
        @OptionGroup var options: ClientOptions
        @Option(help: "Only this state: running, completed, failed or cancelled.") var status: JobState?
        @Option(help: "Only this kind: backup, restore, verify, prune, merge or cleanup.") var type: JobKind?
        @Option(help: "At most this many.") var limit = 50

        func run() async throws {
            var query = ["limit=\(limit)"]
            if let status { query.append("status=\(status.rawValue)") }
            if let type { query.append("type=\(type.rawValue)") }
            let answer = try await APIClient.make(options).send(.GET, "/jobs?" + query.joined(separator: "&"), as: JobListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["JOB", "TYPE", "STATUS", "VM", "PROGRESS", "CREATED", "DETAIL"])
            for job in answer.value.jobs {
                table.rows.append([job.jobId, cell(job.type), cell(job.status), cell(job.vmName), "\(Int(job.progressPercent))%",
                                   cell(job.createdAt), cell(job.errorMessage ?? job.detail)])
            }
            print(table.render())
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a running job (any kind but a cleanup).")
        @OptionGroup var options: ClientOptions
        @Argument var jobID: String

        func run() async throws {
            try await APIClient.make(options).send(.POST, "/jobs/\(jobID)/cancel")
            print("cancelling \(jobID)")
        }
    }
}

extension JobState: ExpressibleByArgument {}
extension JobKind: ExpressibleByArgument {}
