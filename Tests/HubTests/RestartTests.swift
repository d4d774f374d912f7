import Catalog
import Foundation
import Hub
import TestSupport
import Testing

@Suite("Hub restarts", .removesScratch)
struct RestartTests {
    @Test("a second start reuses the catalog, admin, key and default repository")
    func reopen() async throws {
        let first = try await TestHub.make()
        try await first.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/users", token: token,
                                      json: ["username": "dave", "password": "password-d", "role": "viewer"])
        }
        let key = try Data(contentsOf: URL(fileURLWithPath: first.dataDirectory + "/secret.key"))
        let attributes = try FileManager.default.attributesOfItem(atPath: first.dataDirectory + "/secret.key")
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let second = try await TestHub.make(dataDirectory: first.dataDirectory)
        #expect(try second.hub.catalog.appliedMigrations() == ["v1-foundation", "v2-protection-flows", "v3-child-processes"])
        try await second.run { api in
            let token = try await api.login("dave", "password-d")
            let repos = try await api.request(.get, "/api/v1/repositories", token: token)
            #expect(repos.json["count"] as? Int == 1)
            #expect(try await second.hub.catalog.userCount() == 2)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: first.dataDirectory + "/secret.key")) == key)
    }

    @Test("a generated admin password is written once to a 0600 file")
    func generatedAdminPassword() async throws {
        let directory = scratchFolder()
        let configuration = HubConfiguration(dataDirectory: directory, bindAddress: "127.0.0.1", port: 0, bcryptCost: 4)
        let hub = try await Hub.build(configuration: configuration, logger: .init(label: "test"))
        let password = try #require(hub.initialAdminPassword)
        #expect(password.count >= 16)
        let file = directory + "/admin-password"
        #expect(try String(contentsOfFile: file, encoding: .utf8) == password + "\n")
        let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600)
        try hub.catalog.close()
        let again = try await Hub.build(configuration: configuration, logger: .init(label: "test"))
        #expect(again.initialAdminPassword == nil)
        try again.catalog.close()
    }
}
