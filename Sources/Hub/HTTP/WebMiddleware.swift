import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Headers on every answer: the GUI runs only its own scripts and styles
/// (no inline code, no CDN), is never framed, and sends no referrer.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.contentSecurityPolicy] = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            + "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        return response
    }
}

/// `GET /vendor/chart.js`: Chart.js from Debian's libjs-chart.js, when
/// installed; without it the GUI's charts say so instead of drawing.
struct VendorScriptMiddleware<Context: RequestContext>: RouterMiddleware {
    static var chartPath: String { "/usr/share/javascript/chart.js/chart.min.js" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path == "/vendor/chart.js", request.method == .get || request.method == .head else {
            return try await next(request, context)
        }
        guard let data = FileManager.default.contents(atPath: Self.chartPath) else {
            return Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "Chart.js is not installed on the hub (apt-get install libjs-chart.js)")))
        }
        return Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "max-age=86400"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
