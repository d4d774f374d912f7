import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

extension JobResponse {
    init(_ job: Job) {
        self.init(jobId: job.id, type: job.kind, status: job.state, vmName: job.vmName, progressPercent: job.percent,
                  detail: job.detail, errorMessage: job.errorMessage, createdAt: job.createdAt, completedAt: job.completedAt)
    }
}

/// `POST /maintenance/cleanup` answers the janitor's report as it is.
extension Janitor.Report: ResponseEncodable {}

/// `/jobs` (every kind of job, newest first) and `/maintenance/cleanup`.
enum MaintenanceRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/maintenance/cleanup", .role(.operator)) { _, _ -> Janitor.Report in
            await services.janitor.run()
        }
        table.add(.get, "/jobs", .role(.viewer)) { request, _ -> JobListResponse in
            let query = request.uri.queryParameters
            let status = query.get("status")
            let type = try query.get("type").map { text in
                guard let kind = JobKind(rawValue: text) else {
                    throw APIError.badRequest("type must be one of \(JobKind.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return kind
            }
            let limit = try QueryNumber.parse(query["limit"], "limit", default: 200, in: 1...1000)
            var jobs = try await services.jobs.recent(limit: limit)
            // An unknown status matches nothing, as it always has.
            if let status { jobs = jobs.filter { $0.state.rawValue == status } }
            if let type { jobs = jobs.filter { $0.kind == type } }
            let page = jobs.prefix(limit).map(JobResponse.init)
            return JobListResponse(jobs: page, count: page.count)
        }
        table.add(.post, "/jobs/{id}/cancel", .role(.operator)) { _, context -> HTTPResponse.Status in
            let id = context.parameters.get("id") ?? ""
            switch try await services.jobs.cancel(id) {
            case .cancelling: return .accepted
            case .notRunning: throw APIError.conflict("job \(id) is not running")
            case .notCancellable: throw APIError.conflict("job \(id) cannot be cancelled (a cleanup runs to its end)")
            case .unknown: throw APIError.notFound("job not found: \(id)")
            }
        }
    }
}
