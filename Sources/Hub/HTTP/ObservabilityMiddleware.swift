import Foundation
import Hummingbird
import Logging
import SendenseCore

/// One log line and one metrics sample per request: method, route, status,
/// milliseconds. The path is logged without its query string, and no header
/// is ever logged, so tokens and passwords never reach the log.
struct ObservabilityMiddleware: RouterMiddleware {
    typealias Context = HubContext
    let metrics: HubMetrics

    func handle(_ request: Request, context: HubContext, next: (Request, HubContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // ErrorMiddleware answers every error; this is only reached if it
            // is removed, and then the failure still gets its log line.
            record(request, context: context, status: 500, start: start)
            throw error
        }
        record(request, context: context, status: Int(response.status.code), start: start)
        return response
    }

    private func record(_ request: Request, context: HubContext, status: Int, start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let route = context.endpointPath ?? "unmatched"
        metrics.recordRequest(method: request.method.rawValue, route: route, status: status, duration: elapsed)
        let ms = elapsed.inSeconds * 1000
        context.logger.info("\(request.method.rawValue) \(request.uri.path) \(status) \(String(format: "%.1f", ms))ms",
                            metadata: ["route": "\(route)"])
    }
}
