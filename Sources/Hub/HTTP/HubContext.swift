import Foundation
import Hummingbird
import NIOCore
import SendenseAPI
import SendenseCore

/// Per-request state: who is calling, from where.
public struct HubContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address, for login rate limiting.
    public let clientAddress: String
    /// Set by the route table once the bearer token is checked.
    public var user: AuthenticatedUser?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "unknown"
    }

    public var requestDecoder: JSONDecoder { APIJSON.decoder }
    public var responseEncoder: APIResponseEncoder { APIResponseEncoder() }
}

/// Responses' JSON bodies, written by `APIJSON.encode` (one pass, no tree of boxed values).
public struct APIResponseEncoder: ResponseEncoder {
    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        try Self.response(encoding: value)
    }

    static func response(encoding value: some Encodable) throws -> Response {
        response(ByteBuffer(bytes: try APIJSON.encode(value)))
    }

    /// A 200 answer whose body is JSON already encoded.
    static func response(_ body: ByteBuffer) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes)],
                 body: .init(byteBuffer: body))
    }
}

/// Who made a request, once authenticated.
public struct AuthenticatedUser: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var role: UserRole
    /// SHA-256 of the bearer token the request carried (for logout).
    public var tokenHash: String
}
