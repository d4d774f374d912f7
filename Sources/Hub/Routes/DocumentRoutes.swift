import Foundation
import Hummingbird
import NIOCore
import SendenseCore

/// The OpenAPI document and the Prometheus metrics: both read-only, both
/// need a token like every other route (scrapers log in once with a long
/// `expires_in_seconds`).
enum DocumentRoutes {
    static func openAPIDocument() throws -> Data {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let data = FileManager.default.contents(atPath: url.path)
        else { throw APIError(.internalServerError, "the OpenAPI document is missing from this build") }
        return data
    }

    static func register(api: RouteTable, root: RouteTable, _ services: HubServices) {
        api.add(.get, "/openapi.yaml", .role(.viewer)) { _, _ -> Response in
            let data = try openAPIDocument()
            return Response(status: .ok, headers: [.contentType: "application/yaml"],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        // Under /api/v1 with every other route (where the document and its clients look), and at
        // the root, where Prometheus looks by default.
        for table in [api, root] {
            table.add(.get, "/metrics", .role(.viewer)) { _, _ -> Response in
                let counts = try await services.catalog.backupJobCountsByStatus()
                services.metrics.setJobCounts(counts, states: BackupStatus.allCases.map(\.rawValue))
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.registry.emitToBuffer())))
            }
        }
    }
}
