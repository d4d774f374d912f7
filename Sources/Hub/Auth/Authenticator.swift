import Catalog
import Foundation
import Hummingbird
import SendenseCore

/// Checks the bearer token of a request and the caller's role.
struct Authenticator: Sendable {
    let catalog: CatalogDatabase

    func authenticate(_ request: Request, requiring role: UserRole) async throws -> AuthenticatedUser {
        guard let header = request.headers[.authorization] else {
            throw APIError.unauthorized("missing bearer token: log in with POST /api/v1/auth/login and send 'Authorization: Bearer <token>'")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
        }
        let hash = TokenCodec.hash(String(parts[1]).trimmingCharacters(in: .whitespaces))
        guard let user = try await catalog.user(forTokenHash: hash), let id = user.id else {
            throw APIError.unauthorized("the token is invalid, expired or revoked; log in again")
        }
        guard user.role.satisfies(role) else {
            throw APIError.forbidden("this needs the \(role.rawValue) role; \(user.username) is \(user.role.rawValue)")
        }
        return AuthenticatedUser(id: id, username: user.username, role: user.role, tokenHash: hash)
    }
}
