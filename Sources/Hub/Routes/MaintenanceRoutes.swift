import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird

struct JobResponse: Encodable, Sendable {
    var jobId: String
    var type: String
    var status: String
    @Nullable var vmName: String?
    var progressPercent: Double
    @Nullable var detail: String?
    @Nullable var errorMessage: String?
    var createdAt: Date
    @Nullable var completedAt: Date?

    enum CodingKeys: String, CodingKey {
        case jobId = "job_id", type, status, vmName = "vm_name", progressPercent = "progress_percent", detail
        case errorMessage = "error_message", createdAt = "created_at", completedAt = "completed_at"
    }
}

struct JobListResponse: ResponseEncodable {
    var jobs: [JobResponse]
    var count: Int
}

/// `POST /maintenance/cleanup` answers the janitor's report as it is.
extension Janitor.Report: ResponseEncodable {}

/// `/jobs` (every kind of job, newest first) and `/maintenance/cleanup`.
enum MaintenanceRoutes {
    static let types = ["backup", "restore", "verify", "prune", "merge", "cleanup"]

    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/maintenance/cleanup", .role(.operator)) { _, _ -> Janitor.Report in
            await services.janitor.run()
        }
        table.add(.get, "/jobs", .role(.viewer)) { request, _ -> JobListResponse in
            let query = request.uri.queryParameters
            let status = query.get("status")
            let type = query.get("type")
            if let type, !types.contains(type) { throw APIError.badRequest("type must be one of \(types.joined(separator: ", "))") }
            let limit = try QueryNumber.parse(query["limit"], "limit", default: 200, in: 1...1000)
            var jobs = try await allJobs(services, limit: limit)
            if let status { jobs = jobs.filter { $0.status == status } }
            if let type { jobs = jobs.filter { $0.type == type } }
            jobs.sort { $0.createdAt > $1.createdAt }
            let page = Array(jobs.prefix(limit))
            return JobListResponse(jobs: page, count: page.count)
        }
        table.add(.post, "/jobs/{id}/cancel", .role(.operator)) { _, context -> HTTPResponse.Status in
            let id = context.parameters.get("id") ?? ""
            if await services.backups.cancel(id) { return .accepted }
            if await services.restores.cancel(id) { return .accepted }
            let knownBackup = try await services.catalog.backup(id: id) != nil
            let knownRestore = await services.restores.status(of: id) != nil
            if knownBackup || knownRestore { throw APIError.conflict("job \(id) is not running") }
            if await services.jobs.knows(id) {
                throw APIError.conflict("job \(id) cannot be cancelled (maintenance jobs run to their end)")
            }
            throw APIError.notFound("job not found: \(id)")
        }
    }

    /// Backups from the catalog (running ones with live progress; the
    /// statuses are the API's: running is started or in_progress), and the
    /// job history (restores with their live bytes, maintenance jobs).
    static func allJobs(_ services: HubServices, limit: Int) async throws -> [JobResponse] {
        var jobs: [JobResponse] = []
        for backup in try await services.catalog.runningAndRecentBackups(limit: limit) {
            let live = await services.backups.progress(of: backup.backupId)
            let running = ["started", "in_progress"].contains(backup.status)
            let percent = live?.percent ?? (backup.status == "completed" ? 100 : backup.totalBytes > 0 ? Double(backup.bytesTransferred) * 100 / Double(backup.totalBytes) : 0)
            jobs.append(JobResponse(jobId: backup.backupId, type: "backup", status: running ? "running" : backup.status, vmName: backup.vmName,
                                    progressPercent: percent, detail: backup.backupType, errorMessage: backup.errorMessage,
                                    createdAt: backup.createdAt, completedAt: backup.completedAt))
        }
        for (record, percent) in try await services.jobs.recent(limit: limit) {
            var progress = record.status == "completed" ? 100 : percent ?? 0
            if record.type == "restore", record.status != "completed", let live = await services.restores.status(of: record.jobId) {
                progress = live.percent
            }
            jobs.append(JobResponse(jobId: record.jobId, type: record.type, status: record.status, vmName: record.vmName,
                                    progressPercent: progress, detail: record.detail, errorMessage: record.errorMessage,
                                    createdAt: record.createdAt, completedAt: record.completedAt))
        }
        return jobs
    }
}
