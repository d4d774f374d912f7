import Catalog
import Engine
import Foundation
import Hummingbird
import SendenseAPI
import SendenseCore

/// Instant recovery: a restore point's VM started from the backup itself,
/// listed, and stopped (its writes discarded).
enum RecoveryRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/recoveries", .role(.operator)) { request, _ -> EditedResponse<RecoveryResponse> in
            let body = try await request.decodeJSON(RecoveryRequest.self, limit: services.maxBody)
            guard (body.target?.type ?? "libvirt") == "libvirt" else { throw APIError.badRequest("target.type must be libvirt") }
            let record = try await services.recoveries.start(
                .init(backupID: body.backupId, name: body.name, libvirtURI: body.target?.uri ?? "qemu:///system", network: body.network))
            return EditedResponse(status: .created, response: await response(record, services))
        }

        table.add(.get, "/recoveries", .role(.viewer)) { request, _ -> RecoveryListResponse in
            let limit = try QueryNumber.parse(request.uri.queryParameters["limit"], "limit", default: 100, in: 1...1000)
            var answers: [RecoveryResponse] = []
            for record in try await services.catalog.recentRecoveries(limit: limit) { answers.append(await response(record, services)) }
            return RecoveryListResponse(recoveries: answers, count: answers.count)
        }

        table.add(.get, "/recoveries/{recovery_id}", .role(.viewer)) { _, context -> RecoveryResponse in
            let id = context.parameters.get("recovery_id") ?? ""
            guard let record = try await services.catalog.recovery(id: id) else { throw RecoveryError.notFound(id) }
            return await response(record, services)
        }

        table.add(.post, "/recoveries/{recovery_id}/migrate", .role(.operator)) { request, context -> EditedResponse<RecoveryResponse> in
            let id = context.parameters.get("recovery_id") ?? ""
            let body = try await request.decodeJSON(RecoveryMigrateRequest.self, limit: services.maxBody)
            let record = try await services.recoveries.migrate(id, to: body.directory)
            return EditedResponse(status: .accepted, response: await response(record, services))
        }

        table.add(.get, "/recoveries/{recovery_id}/screenshot", .role(.viewer)) { _, context -> Response in
            let id = context.parameters.get("recovery_id") ?? ""
            let png = try await services.recoveries.screen(of: id)
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }

        table.add(.post, "/recoveries/{recovery_id}/stop", .role(.operator)) { _, context -> RecoveryResponse in
            let id = context.parameters.get("recovery_id") ?? ""
            return await response(try await services.recoveries.stop(id), services)
        }
    }

    static func response(_ record: RecoveryRecord, _ services: HubServices) async -> RecoveryResponse {
        RecoveryResponse(recoveryId: record.recoveryId, backupId: record.backupId, vmName: record.vmName, domainName: record.domainName,
                         domainUuid: record.domainUuid, libvirtUri: record.libvirtUri, network: record.network, state: record.state,
                         vmState: await services.recoveries.domainState(of: record), migratedTo: record.migratedTo, errorMessage: record.errorMessage,
                         createdAt: record.createdAt, endedAt: record.endedAt)
    }
}
