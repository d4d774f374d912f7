import Catalog
import Hummingbird
import SendenseCore

struct HealthResponse: ResponseEncodable {
    struct RepositoryStatus: Codable {
        var id: String
        var name: String
        var status: String
        var message: String?
    }

    var status: String
    var version: String
    var database: String
    var repositories: [RepositoryStatus]
    /// Why the status is not "ok", in words (empty when it is).
    var reasons: [String]
}

/// `GET /health`: open to all, for load balancers and monitors. It answers
/// within a few seconds whatever the catalog or a share does: 503 "error"
/// when the catalog cannot be read, 503 "degraded" when it does not answer
/// within `catalogDeadline` (a stuck disk, a hub overloaded), 200 "degraded"
/// when a repository is offline; `reasons` says which.
enum HealthRoutes {
    static let catalogDeadline: Duration = .seconds(2)

    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.get, "/health", .anonymous) { _, _ -> EditedResponse<HealthResponse> in
            var database = "ok"
            var reasons: [String] = []
            var records: [RepositoryRecord] = []
            do {
                // Reading the repositories proves the catalog readable: one read, not a ping and a read.
                records = try await withDeadline(catalogDeadline, "the catalog") { [catalog = services.catalog] in
                    try await catalog.repositories()
                }
            } catch let error as DeadlineExceeded {
                services.logger.warning("health check: \(error)")
                database = "timeout"
                reasons.append("\(error)")
            } catch {
                services.logger.error("health check: catalog unreadable: \(error)")
                database = "error"
                reasons.append("the catalog cannot be read: \(error)")
            }
            let health = await services.repositories.health(of: records)
            let repositories = records.map { record in
                let state = health[record.id ?? 0]
                return HealthResponse.RepositoryStatus(id: String(record.id ?? 0), name: record.name,
                                                       status: state?.online == true ? "ok" : "offline", message: state?.message)
            }
            for repository in repositories where repository.status != "ok" {
                reasons.append("repository \(repository.name) is offline: \(repository.message ?? "unknown reason")")
            }
            let status = database == "error" ? "error" : reasons.isEmpty ? "ok" : "degraded"
            return EditedResponse(
                status: database == "ok" ? .ok : .serviceUnavailable,
                response: HealthResponse(status: status, version: SendenseVersion.current,
                                         database: database, repositories: repositories, reasons: reasons))
        }
    }
}
