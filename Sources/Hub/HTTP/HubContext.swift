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
    public var responseEncoder: JSONEncoder { APIJSON.encoder }
}

/// Who made a request, once authenticated.
public struct AuthenticatedUser: Sendable, Equatable {
    public var id: Int64
    public var username: String
    public var role: UserRole
    /// SHA-256 of the bearer token the request carried (for logout).
    public var tokenHash: String
}
