import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import NIOCore
import SendenseCore
import ServiceLifecycle

struct TelemetrySummaryResponse: ResponseEncodable {
    @Nullable var vmName: String?
    var totalBackups: Int
    var successful: Int
    var failed: Int
    var successRate: Double
    var avgSizeBytes: Int64
    var avgDurationSeconds: Double

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", totalBackups = "total_backups", successful, failed, successRate = "success_rate"
        case avgSizeBytes = "avg_size_bytes", avgDurationSeconds = "avg_duration_seconds"
    }
}

/// `GET /telemetry/history/{job_id}`: a finished job's rolled-up metrics, or
/// a running job's samples so far. `GET /telemetry/summary`. `GET /events`.
enum TelemetryRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/telemetry/history/{job_id}", .role(.viewer)) { _, context -> Response in
            let id = context.parameters.get("job_id") ?? ""
            guard let job = try await catalog.backup(id: id) else { throw APIError.notFound("job not found: job_id=\(id)") }
            // Finished: the stored roll-up. Running (or never rolled up): built from the samples so far.
            let rollup: TelemetryRollup
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            if let stored = job.performanceMetrics, let data = stored.data(using: .utf8),
               let decoded = try? decoder.decode(TelemetryRollup.self, from: data) {
                rollup = decoded
            } else {
                rollup = TelemetryRollup(samples: try await catalog.telemetry(jobID: id))
            }
            let status = job.status.isFinal ? job.status.rawValue : JobState.running.rawValue
            var fields = try JSONSerialization.jsonObject(with: try APIJSON.encoder.encode(rollup)) as? [String: Any] ?? [:]
            fields["job_id"] = id
            fields["status"] = status
            fields["vm_name"] = job.vmName
            fields["backup_type"] = job.backupType.rawValue
            let body = try JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        table.add(.get, "/telemetry/summary", .role(.viewer)) { request, _ -> TelemetrySummaryResponse in
            let vmName = request.uri.queryParameters.get("vm_name")
            if let vmName, try await catalog.vmContext(named: vmName) == nil { throw APIError.notFound("VM not found: vm_name=\(vmName)") }
            let summary = try await catalog.backupSummary(vmName: vmName)
            let rate = summary.total == 0 ? 0 : (Double(summary.successful) * 1000 / Double(summary.total)).rounded() / 10
            return TelemetrySummaryResponse(
                vmName: vmName, totalBackups: summary.total, successful: summary.successful, failed: summary.failed, successRate: rate,
                avgSizeBytes: summary.averageSizeBytes, avgDurationSeconds: (summary.averageDurationSeconds * 10).rounded() / 10)
        }
        table.add(.get, "/events", .role(.viewer)) { _, _ -> Response in
            let (subscription, stream) = await services.events.subscribe()
            let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
            let events = services.events
            return Response(status: .ok, headers: headers, body: .init { writer in
                // The hub's shutdown ends the stream: an open browser tab must not hold the server up.
                try await withGracefulShutdownHandler {
                    try await writer.write(ByteBuffer(string: ": sendense events\nretry: 3000\n\n"))
                    for await event in stream {
                        // An unnamed event is the heartbeat: a comment keeps proxies from closing an idle stream.
                        let text = event.name.isEmpty ? ": keep-alive\n\n" : "event: \(event.name)\ndata: \(event.data)\n\n"
                        try await writer.write(ByteBuffer(string: text))
                    }
                    try await writer.finish(nil)
                } onGracefulShutdown: {
                    Task { await events.unsubscribe(subscription) }
                }
            })
        }
    }
}
