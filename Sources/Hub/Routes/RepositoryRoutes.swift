import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

/// What a client asks for when adding a repository.
extension NewRepositoryRequest {
    var spec: RepositorySpec {
        RepositorySpec(name: name, type: type, path: path, nfsServer: nfsServer, nfsExport: nfsExport, cifsShare: cifsShare,
                       username: username, password: password, mountOptions: mountOptions, immutable: immutable,
                       immutableDays: immutableDays)
    }
}

extension RepositoryResponse {
    /// Capacity is read from statvfs on every call (`RepositoryService.health`): cheap, and never stale.
    init(_ record: RepositoryRecord, backupCount: Int, health: RepositoryHealth) {
        self.init(id: String(record.id ?? 0), name: record.name, type: record.type, path: record.path, enabled: record.enabled,
                  immutable: record.immutable || (record.immutableDays ?? 0) > 0, immutableDays: record.immutableDays,
                  status: health.online ? "online" : "offline", statusMessage: health.message,
                  totalBytes: health.capacity?.totalBytes ?? 0, usedBytes: health.capacity?.usedBytes ?? 0,
                  availableBytes: health.capacity?.availableBytes ?? 0, backupCount: backupCount, repositoryUuid: record.repositoryUuid,
                  nfsServer: record.nfsServer, nfsExport: record.nfsExport, cifsShare: record.cifsShare, username: record.username,
                  mountOptions: record.mountOptions, createdAt: record.createdAt, checkedAt: Date())
    }
}

/// `POST /repositories/{id}/rescan` answers the rebuild's report as it is.
extension CatalogRebuild.Report: ResponseEncodable {}

enum RepositoryRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/repositories", .role(.viewer)) { _, _ -> RepositoryListResponse in
            let counts = try await catalog.backupCounts()
            let records = try await catalog.repositories()
            let health = await services.repositories.health(of: records)
            let list = records.map { RepositoryResponse($0, backupCount: counts[$0.id ?? 0] ?? 0, health: health[$0.id ?? 0] ?? .init(online: false)) }
            return RepositoryListResponse(repositories: list, count: list.count)
        }
        table.add(.post, "/repositories", .role(.admin)) { request, _ -> EditedResponse<RepositoryResponse> in
            let body = try await request.decodeJSON(NewRepositoryRequest.self, limit: services.maxBody)
            // Preparing a repository writes and syncs files, perhaps on a share.
            let record = try await withTaskExecutorPreference(BlockingPool.shared) { try await services.repositories.create(body.spec) }
            return EditedResponse(status: .created, response: RepositoryResponse(
                record, backupCount: 0, health: await services.repositories.health(of: record)))
        }
        let show: @Sendable (Request, HubContext) async throws -> RepositoryResponse = { _, context in
            let id = try context.parameters.requireID("id")
            guard let record = try await catalog.repository(id: id) else {
                throw APIError.notFound("repository not found: id=\(id)")
            }
            return RepositoryResponse(record, backupCount: try await catalog.backupCounts()[id] ?? 0,
                                      health: await services.repositories.health(of: record))
        }
        table.add(.get, "/repositories/{id}", .role(.viewer), show)
        table.add(.get, "/repositories/{id}/storage", .role(.viewer), show)
        table.add(.post, "/repositories/{id}/rescan", .role(.admin)) { _, context -> CatalogRebuild.Report in
            let id = try context.parameters.requireID("id")
            guard let record = try await catalog.repository(id: id) else { throw APIError.notFound("repository not found: id=\(id)") }
            let health = await services.repositories.health(of: record)
            guard health.online else {
                throw APIError.conflict("repository \(record.name) is offline: \(health.message ?? record.path)")
            }
            return try await withTaskExecutorPreference(BlockingPool.shared) {
                try await CatalogRebuild.rescan(record, catalog: catalog, logger: services.logger)
            }
        }
        table.add(.delete, "/repositories/{id}", .role(.admin)) { _, context -> HTTPResponse.Status in
            let id = try context.parameters.requireID("id")
            try await withTaskExecutorPreference(BlockingPool.shared) { try await services.repositories.delete(id: id) }
            return .noContent
        }
    }
}
