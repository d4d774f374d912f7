import Catalog
import Foundation
import Hummingbird
import SendenseCore

/// Checks the bearer token of a request and the caller's role.
struct Authenticator: Sendable {
    let catalog: CatalogDatabase
    let links: DownloadLinks

    func authenticate(_ request: Request, requiring role: UserRole) async throws -> AuthenticatedUser {
        let hash: String
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
                throw APIError.unauthorized("the Authorization header must be 'Bearer <token>'")
            }
            hash = TokenCodec.hash(String(parts[1]).trimmingCharacters(in: .whitespaces))
        } else if request.method == .get, request.uri.query?.contains(DownloadLinks.parameter + "=") == true {
            guard let signed = links.verify(path: request.uri.path, query: request.uri.query) else {
                throw APIError.unauthorized("this download link is invalid or expired: start the download again")
            }
            hash = signed
        } else {
            throw APIError.unauthorized("missing bearer token: log in with POST /api/v1/auth/login and send 'Authorization: Bearer <token>'")
        }
        guard let user = try await catalog.user(forTokenHash: hash), let id = user.id else {
            throw APIError.unauthorized("the token is invalid, expired or revoked; log in again")
        }
        guard user.role.satisfies(role) else {
            throw APIError.forbidden("this needs the \(role.rawValue) role; \(user.username) is \(user.role.rawValue)")
        }
        return AuthenticatedUser(id: id, username: user.username, role: user.role, tokenHash: hash)
    }
}
