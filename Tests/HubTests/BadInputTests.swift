import Foundation
import HTTPTypes
import Hub
import Testing
import TestSupport

@Suite("Bad input answers the documented status and changes nothing", .removesScratch)
struct BadInputTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        var status: HTTPResponse.Status
        var message: String
        var testDescription: String { "\(method) \(path) \(body ?? "") → \(status.code)" }
    }

    static let cases: [Case] = [
        Case(method: .post, path: "/api/v1/users", body: "{not json", status: .badRequest, message: "not valid JSON"),
        Case(method: .post, path: "/api/v1/users", body: "", status: .badRequest, message: "body is empty"),
        Case(method: .post, path: "/api/v1/users", body: "[1,2]", status: .badRequest, message: "must be a JSON object"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"bob","role":"viewer"}"#, status: .badRequest, message: "missing field 'password'"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":7,"password":"password1","role":"viewer"}"#, status: .badRequest, message: "field 'username' must be a string"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"bob","password":"password1","role":"king"}"#, status: .badRequest, message: "field 'role'"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"bob","password":null,"role":"viewer"}"#, status: .badRequest, message: "must not be null"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"bob","password":"short","role":"viewer"}"#, status: .badRequest, message: "8 to 1024 characters"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"bad name!","password":"password1","role":"viewer"}"#, status: .badRequest, message: "username may contain"),
        Case(method: .post, path: "/api/v1/users", body: #"{"username":"admin","password":"password1","role":"viewer"}"#, status: .conflict, message: "already exists"),
        Case(method: .put, path: "/api/v1/users/1", body: "{}", status: .badRequest, message: "nothing to change"),
        Case(method: .put, path: "/api/v1/users/1", body: #"{"role":"viewer"}"#, status: .conflict, message: "last admin"),
        Case(method: .delete, path: "/api/v1/users/1", body: nil, status: .conflict, message: "last admin"),
        Case(method: .get, path: "/api/v1/users/abc", body: nil, status: .badRequest, message: "positive whole number"),
        Case(method: .get, path: "/api/v1/users/0", body: nil, status: .badRequest, message: "positive whole number"),
        Case(method: .get, path: "/api/v1/users/999", body: nil, status: .notFound, message: "user not found: id=999"),
        Case(method: .delete, path: "/api/v1/users/999", body: nil, status: .notFound, message: "user not found"),
        Case(method: .get, path: "/api/v1/repositories/999", body: nil, status: .notFound, message: "repository not found: id=999"),
        Case(method: .delete, path: "/api/v1/repositories/999", body: nil, status: .notFound, message: "repository not found"),
        Case(method: .get, path: "/api/v1/vm-contexts/nope/disks", body: nil, status: .notFound, message: "VM not found: vm_name=nope"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"tape","path":"/tmp/x"}"#, status: .badRequest, message: "field 'type'"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"local"}"#, status: .badRequest, message: "missing field 'path'"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"","type":"local","path":"/tmp/x"}"#, status: .badRequest, message: "name must not be empty"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"local","path":"relative/dir"}"#, status: .unprocessableContent, message: "must be absolute"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"local","path":"/"}"#, status: .unprocessableContent, message: "root"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"local","path":"/proc/sendense-repo"}"#, status: .unprocessableContent, message: "not writable"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"nfs","nfs_server":"-o evil","nfs_export":"/x"}"#, status: .unprocessableContent, message: "nfs_server"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"nfs","nfs_server":"nas"}"#, status: .badRequest, message: "nfs_export"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"x","type":"cifs","cifs_share":"server/share"}"#, status: .unprocessableContent, message: "//server/share"),
        Case(method: .post, path: "/api/v1/repositories", body: #"{"name":"local","type":"local","path":"/tmp/other"}"#, status: .conflict, message: "already exists"),
        Case(method: .get, path: "/api/v1/no-such-thing", body: nil, status: .notFound, message: "no such route"),
        Case(method: .patch, path: "/api/v1/repositories", body: "{}", status: .methodNotAllowed, message: "use GET, POST"),
        Case(method: .delete, path: "/api/v1/backups/nope?cascade=yes", body: nil, status: .badRequest, message: "cascade must be true or false"),
        Case(method: .delete, path: "/api/v1/health", body: nil, status: .methodNotAllowed, message: "use GET"),
        // A route reads one value of a scalar parameter: a second would be dropped silently.
        Case(method: .get, path: "/api/v1/backups?limit=5&limit=true", body: nil, status: .badRequest, message: "query parameter limit is given more than once"),
    ]

    @Test("each bad request", arguments: cases)
    func badRequest(_ testCase: Case) async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let before = try await hub.hub.catalog.rowCounts()
            let entriesBefore = try FileManager.default.contentsOfDirectory(atPath: hub.dataDirectory).sorted()
            let answer = try await api.request(testCase.method, testCase.path, token: token, rawBody: testCase.body)
            #expect(answer.status == testCase.status, "\(answer.text)")
            let message = try #require(answer.error, "no JSON error in \(answer.text)")
            #expect(message.contains(testCase.message), "message was: \(message)")
            #expect(answer.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(try await hub.hub.catalog.rowCounts() == before)
            #expect(try FileManager.default.contentsOfDirectory(atPath: hub.dataDirectory).sorted() == entriesBefore)
        }
    }

    @Test("a body over the configured limit answers 413 and changes nothing")
    func oversizedBody() async throws {
        let hub = try await TestHub.make(maxBodyBytes: 2048)
        try await hub.run { api in
            let token = try await api.login()
            let before = try await hub.hub.catalog.rowCounts()
            let big = #"{"username":"bob","password":"password1","role":"viewer","pad":""# + String(repeating: "x", count: 4096) + #""}"#
            let answer = try await api.request(.post, "/api/v1/users", token: token, rawBody: big)
            #expect(answer.status == .contentTooLarge)
            #expect(answer.error?.contains("2048") == true)
            #expect(try await hub.hub.catalog.rowCounts() == before)
        }
    }
}
