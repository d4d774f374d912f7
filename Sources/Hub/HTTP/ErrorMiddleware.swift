import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into the API's JSON error shape with a fitting status
/// (`ErrorMapping.swift` says which). Unknown paths answer 404, known paths
/// with another method 405 (with `Allow`), and anything unexpected 500 with
/// its details only in the log.
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = HubContext
    let registry: RouteRegistry

    func handle(_ request: Request, context: HubContext, next: (Request, HubContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return try translate(error, request: request).response(from: request, context: context)
        } catch {
            if let answer = APIError(mapping: error) { return try answer.response(from: request, context: context) }
            context.logger.error("unhandled error: \(String(reflecting: error))", metadata: ["path": "\(request.uri.path)"])
            return try APIError(.internalServerError, "internal error; the hub log has the details")
                .response(from: request, context: context)
        }
    }

    private func translate(_ error: HTTPError, request: Request) -> APIError {
        if error.status == .notFound {
            let allowed = registry.methods(matching: request.uri.path)
            if allowed.isEmpty {
                return .notFound("no such route: \(request.method.rawValue) \(request.uri.path)")
            }
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            return APIError(.methodNotAllowed, "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(list)",
                            headers: [.allow: list])
        }
        if error.status == .contentTooLarge {
            return APIError(.contentTooLarge, error.body ?? "request body is too large")
        }
        return APIError(error.status, error.body ?? error.status.reasonPhrase)
    }
}
