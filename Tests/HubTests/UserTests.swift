import Foundation
import HTTPTypes
import Hub
import Testing
import TestSupport

@Suite("Users", .removesScratch)
struct UserTests {
    @Test("admins create, list, change and delete users")
    func lifecycle() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let admin = try await api.login()
            let created = try await api.request(.post, "/api/v1/users", token: admin,
                                                json: ["username": "carol", "password": "password-c", "role": "operator"])
            #expect(created.status == .created)
            let id = try #require(created.json["id"] as? Int)
            #expect(created.json["role"] as? String == "operator")
            #expect(created.json["password_hash"] == nil)

            let list = try await api.request(.get, "/api/v1/users", token: admin)
            #expect(list.json["count"] as? Int == 2)
            #expect(!list.text.contains("password"))

            let carol = try await api.login("carol", "password-c")
            let promoted = try await api.request(.put, "/api/v1/users/\(id)", token: admin, json: ["role": "admin"])
            #expect(promoted.json["role"] as? String == "admin")
            // Carol's token now carries the new role.
            #expect(try await api.request(.get, "/api/v1/users", token: carol).status == .ok)

            // A new password revokes her tokens.
            #expect(try await api.request(.put, "/api/v1/users/\(id)", token: admin, json: ["password": "password-d"]).status == .ok)
            #expect(try await api.request(.get, "/api/v1/auth/me", token: carol).status == .unauthorized)
            _ = try await api.login("carol", "password-d")

            // With two admins, the first may go; then carol is the last.
            #expect(try await api.request(.delete, "/api/v1/users/1", token: admin).status == .noContent)
            let carol2 = try await api.login("carol", "password-d")
            let last = try await api.request(.delete, "/api/v1/users/\(id)", token: carol2)
            #expect(last.status == .conflict)
            #expect(last.error?.contains("last admin") == true)
            #expect(try await api.request(.get, "/api/v1/auth/me", token: admin).status == .unauthorized)
        }
    }

    @Test("a password longer than bcrypt's 72 bytes counts whole")
    func longPassword() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let admin = try await api.login()
            let password = String(repeating: "p", count: 72) + "-and-more-ünïcödé"
            let created = try await api.request(.post, "/api/v1/users", token: admin,
                                                json: ["username": "dave", "password": password, "role": "viewer"])
            #expect(created.status == .created, "\(created.text)")
            _ = try await api.login("dave", password)
            let truncated = try await api.request(.post, "/api/v1/auth/login",
                                                  json: ["username": "dave", "password": String(password.prefix(72))])
            #expect(truncated.status == .unauthorized)
            let tooLong = try await api.request(.post, "/api/v1/users", token: admin,
                                                json: ["username": "erin", "password": String(repeating: "x", count: 1025), "role": "viewer"])
            #expect(tooLong.status == .badRequest)
        }
    }

    @Test("user names are unique regardless of case")
    func uniqueNames() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let admin = try await api.login()
            let answer = try await api.request(.post, "/api/v1/users", token: admin,
                                               json: ["username": "ADMIN", "password": "password-x", "role": "viewer"])
            #expect(answer.status == .conflict)
        }
    }
}
