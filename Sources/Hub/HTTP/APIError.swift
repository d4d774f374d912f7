import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SendenseAPI

/// An error the API answers with: a status that fits and a message a user
/// can act on, as `{"error": "…"}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// 507: the repository or the data dir has no space left.
    public static func insufficientStorage(_ message: String) -> APIError { .init(.init(code: 507, reasonPhrase: "Insufficient Storage"), message) }
    public static func badRequest(_ message: String) -> APIError { .init(.badRequest, message) }
    public static func notFound(_ message: String) -> APIError { .init(.notFound, message) }
    public static func conflict(_ message: String) -> APIError { .init(.conflict, message) }
    public static func unprocessable(_ message: String) -> APIError { .init(.unprocessableContent, message) }
    public static func unauthorized(_ message: String) -> APIError {
        .init(.unauthorized, message, headers: [.wwwAuthenticate: "Bearer"])
    }
    public static func forbidden(_ message: String) -> APIError { .init(.forbidden, message) }
    /// A peer the hub depends on (vCenter) refused or could not be reached.
    public static func badGateway(_ message: String) -> APIError { .init(.badGateway, message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        let body = (try? APIJSON.encoder.encode(ErrorResponse(error: message))) ?? Data(#"{"error":"error"}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
