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
}

/// `GET /health`: open to all, for load balancers and monitors. 503 when the
/// catalog cannot be read; "degraded" when a repository is offline.
enum HealthRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.get, "/health", .anonymous) { _, _ -> EditedResponse<HealthResponse> in
            var database = "ok"
            var repositories: [HealthResponse.RepositoryStatus] = []
            do {
                try services.catalog.ping()
                repositories = try await services.catalog.repositories().map { record in
                    let health = RepositoryService.health(of: record)
                    return .init(id: String(record.id ?? 0), name: record.name,
                                 status: health.online ? "ok" : "offline", message: health.message)
                }
            } catch {
                services.logger.error("health check: catalog unreadable: \(error)")
                database = "error"
            }
            let status = database != "ok" ? "error" : repositories.allSatisfy({ $0.status == "ok" }) ? "ok" : "degraded"
            return EditedResponse(
                status: database == "ok" ? .ok : .serviceUnavailable,
                response: HealthResponse(status: status, version: SendenseVersion.current,
                                         database: database, repositories: repositories))
        }
    }
}
