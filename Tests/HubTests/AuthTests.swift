import Catalog
import Foundation
import HTTPTypes
import Hub
import Testing
import TestSupport

@Suite("Authentication and roles", .removesScratch)
struct AuthTests {
    @Test("login with the right password gives a 256-bit token that works until logout")
    func loginAndLogout() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let answer = try await api.request(.post, "/api/v1/auth/login",
                                               json: ["username": "admin", "password": TestHub.adminPassword])
            #expect(answer.status == .ok)
            let token = try #require(answer.json["token"] as? String)
            #expect(token.count >= 43)  // 32 bytes in base64url
            let expires = try #require((answer.json["expires_at"] as? String).flatMap(ISO8601DateFormatter().date(from:)))
            #expect(abs(expires.timeIntervalSinceNow - 24 * 3600) < 120)

            let me = try await api.request(.get, "/api/v1/auth/me", token: token)
            #expect(me.status == .ok)
            #expect(me.json["username"] as? String == "admin")
            #expect(me.json["role"] as? String == "admin")

            #expect(try await api.request(.post, "/api/v1/auth/logout", token: token).status == .noContent)
            let after = try await api.request(.get, "/api/v1/auth/me", token: token)
            #expect(after.status == .unauthorized)
            #expect(after.error?.contains("revoked") == true)
        }
    }

    @Test("the token is stored only as its hash")
    func tokenStoredAsHash() async throws {
        let hub = try await TestHub.make()
        let token = try await hub.run { api in try await api.login() }
        let sqlite = try Data(contentsOf: URL(fileURLWithPath: hub.dataDirectory + "/catalog.sqlite"))
        let wal = (try? Data(contentsOf: URL(fileURLWithPath: hub.dataDirectory + "/catalog.sqlite-wal"))) ?? Data()
        #expect(sqlite.range(of: Data(token.utf8)) == nil)
        #expect(wal.range(of: Data(token.utf8)) == nil)
        #expect(TokenCodec.hash(token).count == 64)
    }

    @Test("a wrong password and an unknown user get the same 401")
    func wrongPassword() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let wrong = try await api.request(.post, "/api/v1/auth/login", json: ["username": "admin", "password": "nope-nope"])
            let unknown = try await api.request(.post, "/api/v1/auth/login", json: ["username": "ghost", "password": "nope-nope"])
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.error == unknown.error)
            #expect(wrong.error == "wrong username or password")
        }
    }

    @Test("an expired token is refused")
    func expiredToken() async throws {
        let hub = try await TestHub.make()
        let admin = try #require(try await hub.hub.catalog.user(named: "admin")?.id)
        let token = TokenCodec.newToken()
        try await hub.hub.catalog.insertToken(APITokenRecord(
            userId: admin, tokenHash: TokenCodec.hash(token),
            createdAt: Date().addingTimeInterval(-7200), expiresAt: Date().addingTimeInterval(-3600)))
        try await hub.run { api in
            let answer = try await api.request(.get, "/api/v1/repositories", token: token)
            #expect(answer.status == .unauthorized)
            #expect(answer.headers[.wwwAuthenticate] == "Bearer")
        }
    }

    @Test("a short-lived token can be asked for; out-of-range lifetimes are refused")
    func tokenLifetime() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let short = try await api.request(.post, "/api/v1/auth/login", json: [
                "username": "admin", "password": TestHub.adminPassword, "expires_in_seconds": 120])
            let expires = try #require((short.json["expires_at"] as? String).flatMap(ISO8601DateFormatter().date(from:)))
            #expect(abs(expires.timeIntervalSinceNow - 120) < 10)
            let tooShort = try await api.request(.post, "/api/v1/auth/login", json: [
                "username": "admin", "password": TestHub.adminPassword, "expires_in_seconds": 5])
            #expect(tooShort.status == .badRequest)
        }
    }

    @Test("failed logins are rate limited per user, even for the right password afterwards")
    func rateLimitPerUser() async throws {
        let hub = try await TestHub.make(loginLimits: LoginLimits(maxFailuresPerUser: 3, maxFailuresPerAddress: 100, window: 300))
        try await hub.run { api in
            for _ in 0..<3 {
                let answer = try await api.request(.post, "/api/v1/auth/login", json: ["username": "admin", "password": "guess-guess"])
                #expect(answer.status == .unauthorized)
            }
            let blocked = try await api.request(.post, "/api/v1/auth/login",
                                                json: ["username": "admin", "password": TestHub.adminPassword])
            #expect(blocked.status == .tooManyRequests)
            #expect(Int(blocked.headers[.retryAfter] ?? "") ?? 0 > 0)
            #expect(blocked.error?.contains("too many failed logins") == true)
        }
    }

    @Test("failed logins are rate limited per client address across user names")
    func rateLimitPerAddress() async throws {
        let hub = try await TestHub.make(loginLimits: LoginLimits(maxFailuresPerUser: 100, maxFailuresPerAddress: 4, window: 300))
        try await hub.run { api in
            for index in 0..<4 {
                let answer = try await api.request(.post, "/api/v1/auth/login", json: ["username": "user\(index)", "password": "guess-guess"])
                #expect(answer.status == .unauthorized)
            }
            let blocked = try await api.request(.post, "/api/v1/auth/login",
                                                json: ["username": "admin", "password": TestHub.adminPassword])
            #expect(blocked.status == .tooManyRequests)
        }
    }

    @Test("every route but health and login needs a token, and the right role")
    func everyRouteGuarded() async throws {
        let hub = try await TestHub.make()
        let routes = hub.hub.registry.routes
        #expect(routes.count >= 13)
        try await hub.run { api in
            let admin = try await api.login()
            let viewer = try await api.tokenFor(role: "viewer", admin: admin)
            let operatorToken = try await api.tokenFor(role: "operator", admin: admin)
            for route in routes {
                let path = route.path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "1", options: .regularExpression)
                switch route.access {
                case .anonymous:
                    #expect(["/api/v1/health", "/api/v1/auth/login"].contains(route.path), "\(route.path) must not be anonymous")
                case .role(let required):
                    let none = try await api.request(route.method, path, rawBody: "{}")
                    #expect(none.status == .unauthorized, "\(route.method) \(route.path) without token: \(none.status)")
                    #expect(none.error != nil)
                    let garbage = try await api.request(route.method, path, token: "not-a-token", rawBody: "{}")
                    #expect(garbage.status == .unauthorized)
                    if required > .viewer {
                        let answer = try await api.request(route.method, path, token: viewer, rawBody: "{}")
                        #expect(answer.status == .forbidden, "\(route.method) \(route.path) as viewer: \(answer.status)")
                    }
                    if required > .operator {
                        let answer = try await api.request(route.method, path, token: operatorToken, rawBody: "{}")
                        #expect(answer.status == .forbidden, "\(route.method) \(route.path) as operator: \(answer.status)")
                    }
                }
            }
            // A viewer reads.
            #expect(try await api.request(.get, "/api/v1/repositories", token: viewer).status == .ok)
            #expect(try await api.request(.get, "/api/v1/vm-contexts", token: viewer).status == .ok)
        }
    }
}
