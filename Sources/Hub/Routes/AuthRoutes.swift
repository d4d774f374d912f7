import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

struct DownloadLinkRequest: Decodable {
    var path: String
}

struct DownloadLinkResponse: ResponseEncodable {
    var url: String
    var expiresAt: Date

    enum CodingKeys: String, CodingKey { case url, expiresAt = "expires_at" }
}

struct CurrentUserResponse: ResponseEncodable {
    var id: Int64
    var username: String
    var role: UserRole
}

enum AuthRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/auth/login", .anonymous) { request, context -> LoginResponse in
            let login = try await request.decodeJSON(LoginRequest.self, limit: services.maxBody)
            return try await Self.login(login, address: context.clientAddress, services)
        }
        table.add(.post, "/auth/logout", .role(.viewer)) { _, context -> HTTPResponse.Status in
            if let user = context.user { try await services.catalog.revokeToken(hash: user.tokenHash) }
            return .noContent
        }
        // A signed link to one download route, for the browser to follow (see DownloadLinks).
        table.add(.post, "/auth/download-link", .role(.viewer)) { request, context -> DownloadLinkResponse in
            guard let user = context.user else { throw APIError.unauthorized("not logged in") }
            let body = try await request.decodeJSON(DownloadLinkRequest.self, limit: services.maxBody)
            // By scalar: a `?` or `#` with a combining mark after it is one Character to Swift, but still splits a URL.
            let scalars = body.path.unicodeScalars
            let path = String(String.UnicodeScalarView(scalars.prefix { $0 != "?" }))
            guard DownloadLinks.isDownloadable(path: path), !scalars.contains("#"),
                  Array(body.path.utf8).firstRange(of: Array((DownloadLinks.parameter + "=").utf8)) == nil else {
                throw APIError.badRequest("path must be a download route: /api/v1/restore/{mount_id}/download, /api/v1/restore/{mount_id}/download-directory or /api/v1/backups/{backup_id}/disks/{disk_index}/image, with its query")
            }
            let link = services.downloadLinks.sign(body.path, tokenHash: user.tokenHash)
            return DownloadLinkResponse(url: link.url, expiresAt: link.expiresAt)
        }
        table.add(.get, "/auth/me", .role(.viewer)) { _, context -> CurrentUserResponse in
            guard let user = context.user else { throw APIError.unauthorized("not logged in") }
            return CurrentUserResponse(id: user.id, username: user.username, role: user.role)
        }
    }

    static func login(_ login: LoginRequest, address: String, _ services: HubServices) async throws -> LoginResponse {
        if let wait = await services.loginLimiter.retryAfter(user: login.username, address: address) {
            throw APIError(.tooManyRequests, "too many failed logins; try again in \(wait) s",
                           headers: [.retryAfter: String(wait)])
        }
        var lifetime = services.configuration.tokenLifetime
        if let asked = login.expiresInSeconds {
            guard asked >= 60, Double(asked) <= services.configuration.maxTokenLifetime else {
                throw APIError.badRequest("expires_in_seconds must be between 60 and \(Int(services.configuration.maxTokenLifetime))")
            }
            lifetime = TimeInterval(asked)
        }
        let user = try await services.catalog.user(named: login.username)
        let valid: Bool
        if let user {
            valid = try await services.hasher.verify(login.password, against: user.passwordHash)
        } else {
            try await services.hasher.burnTime(login.password)
            valid = false
        }
        guard valid, let user, let userID = user.id else {
            await services.loginLimiter.recordFailure(user: login.username, address: address)
            services.logger.notice("failed login", metadata: ["username": "\(login.username)", "address": "\(address)"])
            throw APIError.unauthorized("wrong username or password")
        }
        await services.loginLimiter.recordSuccess(user: login.username)
        let token = TokenCodec.newToken()
        let now = Date()
        let expires = now.addingTimeInterval(lifetime)
        try await services.catalog.insertToken(APITokenRecord(
            userId: userID, tokenHash: TokenCodec.hash(token), createdAt: now, expiresAt: expires))
        return LoginResponse(token: token, expiresAt: expires, username: user.username, role: user.role)
    }
}
