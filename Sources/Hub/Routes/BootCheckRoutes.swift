import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SendenseAPI
import SendenseCore

extension BootCheckResponse {
    init(_ record: BootCheckRecord) {
        self.init(checkId: record.checkId, backupId: record.backupId, vmName: record.vmName, heartbeat: record.heartbeat,
                  consolePattern: record.consolePattern, timeoutSeconds: record.timeoutSeconds, status: record.status, reason: record.reason,
                  heartbeatSeconds: record.heartbeatSeconds,
                  screenshotUrl: record.screenshot == nil ? nil : "/api/v1/boot-checks/\(record.checkId)/screenshot",
                  recoveryId: record.recoveryId, createdAt: record.createdAt, completedAt: record.completedAt)
    }
}

/// Boot verification: a restore point booted in a sandbox until its guest
/// shows a heartbeat; the verdicts and screenshots kept with the point.
enum BootCheckRoutes {
    /// A screenshot larger than this is not one QEMU wrote.
    static let maxScreenshotBytes = 32 << 20

    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/backups/{backup_id}/boot-check", .role(.operator)) { request, context -> EditedResponse<BootCheckResponse> in
            let id = context.parameters.get("backup_id") ?? ""
            let body = try await request.decodeJSON(BootCheckRequest.self, limit: services.maxBody, allowEmpty: true) ?? BootCheckRequest()
            let (record, _) = try await services.bootChecks.start(
                .init(backupID: id, heartbeat: body.heartbeat ?? .agent, consolePattern: body.consolePattern,
                      timeout: .seconds(body.timeoutSeconds ?? 300)))
            return EditedResponse(status: .accepted, response: BootCheckResponse(record))
        }

        table.add(.get, "/backups/{backup_id}/boot-checks", .role(.viewer)) { _, context -> BootCheckListResponse in
            let id = context.parameters.get("backup_id") ?? ""
            let checks = try await services.catalog.bootChecks(backupID: id)
            if checks.isEmpty, try await services.catalog.backup(id: id) == nil { throw BackupError.backupNotFound(id) }
            return BootCheckListResponse(bootChecks: checks.map(BootCheckResponse.init), count: checks.count)
        }

        table.add(.get, "/boot-checks/{check_id}", .role(.viewer)) { _, context -> BootCheckResponse in
            let id = context.parameters.get("check_id") ?? ""
            guard let record = try await services.catalog.bootCheck(id: id) else { throw APIError.notFound("boot check not found: check_id=\(id)") }
            return BootCheckResponse(record)
        }

        table.add(.get, "/boot-checks/{check_id}/screenshot", .role(.viewer)) { _, context -> Response in
            let id = context.parameters.get("check_id") ?? ""
            guard let record = try await services.catalog.bootCheck(id: id), let path = record.screenshot else {
                throw APIError.notFound("no screenshot of boot check \(id)")
            }
            // A few hundred KB written by QEMU; read whole, within a bound.
            let data = try await BlockingPool.shared.run { () -> Data? in
                guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
                defer { try? handle.close() }
                return try handle.read(upToCount: maxScreenshotBytes)
            }
            guard let data else { throw APIError.notFound("the screenshot of boot check \(id) is gone") }
            return Response(status: .ok, headers: [.contentType: "image/png", .contentLength: String(data.count)],
                            body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
    }
}
