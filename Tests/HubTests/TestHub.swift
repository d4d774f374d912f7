import Catalog
import Engine
import Foundation
import HTTPTypes
import Hub
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import TestSupport
import Testing

/// A real hub on a loopback port over a real SQLite file in a fresh temp
/// folder, with a fast bcrypt cost and an admin password the test knows.
struct TestHub {
    static let adminPassword = "admin-password-1"

    let hub: Hub
    let dataDirectory: String

    static func make(
        dataDirectory: String? = nil,
        maxBodyBytes: Int = 64 * 1024,
        loginLimits: LoginLimits = LoginLimits(maxFailuresPerUser: 50, maxFailuresPerAddress: 200, window: 300),
        restoreSessions: RestoreSessionLimits = RestoreSessionLimits(),
        janitorInterval: Duration = .seconds(3600),
        stallTimeout: Duration = .seconds(600),
        telemetryInterval: Duration = .seconds(10)
    ) async throws -> TestHub {
        let directory = dataDirectory ?? scratchFolder()
        // The hub runs inside the test process: its file-restore workers are the built `sendense`.
        var restoreSessions = restoreSessions
        restoreSessions.worker.executable = sendenseBinary
        var logger = Logger(label: "test-hub")
        logger.logLevel = .warning
        let configuration = HubConfiguration(
            dataDirectory: directory, bindAddress: "127.0.0.1", port: 0, maxBodyBytes: maxBodyBytes,
            bcryptCost: 4, initialAdminPassword: adminPassword, loginLimits: loginLimits, restoreSessions: restoreSessions,
            janitorInterval: janitorInterval, stallTimeout: stallTimeout, telemetryInterval: telemetryInterval)
        return TestHub(hub: try await Hub.build(configuration: configuration, logger: logger), dataDirectory: directory)
    }

    /// Runs `body` against the hub served on a loopback port.
    func run<Value: Sendable>(_ body: @Sendable (APITester) async throws -> Value) async throws -> Value {
        try await hub.application.test(.live) { client in
            try await body(APITester(client: client))
        }
    }
}


/// What a test sees of an answer: status, headers, and the body as JSON.
struct APIAnswer: Sendable {
    let status: HTTPResponse.Status
    let headers: HTTPFields
    let body: Data

    var json: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:]
    }

    var error: String? { json["error"] as? String }
    var text: String { String(decoding: body, as: UTF8.self) }
}

struct APITester: Sendable {
    let client: any TestClientProtocol

    func request(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, rawBody: String? = nil,
                 headers extra: HTTPFields = [:]) async throws -> APIAnswer {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if rawBody != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(
            uri: path, method: method, headers: headers, body: rawBody.map { ByteBuffer(string: $0) })
        return APIAnswer(status: response.status, headers: response.headers, body: Data(response.body.readableBytesView))
    }

    func request(_ method: HTTPRequest.Method, _ path: String, token: String? = nil, json: [String: Any]) async throws -> APIAnswer {
        let data = try JSONSerialization.data(withJSONObject: json)
        return try await request(method, path, token: token, rawBody: String(decoding: data, as: UTF8.self))
    }

    func login(_ username: String = "admin", _ password: String = TestHub.adminPassword) async throws -> String {
        let answer = try await request(.post, "/api/v1/auth/login", json: ["username": username, "password": password])
        try #require(answer.status == .ok, "login of \(username) failed: \(answer.text)")
        return try #require(answer.json["token"] as? String)
    }

    /// Creates a user with the role and answers a token for it.
    func tokenFor(role: String, admin: String) async throws -> String {
        let name = "\(role)-\(UUID().uuidString.prefix(8))"
        let created = try await request(.post, "/api/v1/users", token: admin,
                                        json: ["username": name, "password": "password-\(role)", "role": role])
        try #require(created.status == .created, "\(created.text)")
        return try await login(name, "password-\(role)")
    }
}
