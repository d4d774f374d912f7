import Foundation
import HTTPTypes
import Hub
import Testing
import TestSupport

@Suite("Health, OpenAPI document and metrics", .removesScratch)
struct DocumentTests {
    /// `METHOD path → the statuses it declares`, read from the served OpenAPI YAML: a path is a
    /// two-space-indented key under `paths:`, a method a four-space one, a status an eight-space
    /// quoted key under the method's `responses:`.
    static func documentedRoutes(_ yaml: String) -> [String: Set<String>] {
        var routes: [String: Set<String>] = [:]
        var inPaths = false
        var path: String?
        var operation: String?
        var inResponses = false
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" "), !line.isEmpty { break }
            let indent = line.prefix { $0 == " " }.count
            let key = line.trimmingCharacters(in: .whitespaces)
            if indent == 2, key.hasPrefix("/"), key.hasSuffix(":") {
                path = String(key.dropLast())
                operation = nil
            } else if indent == 4, let path, ["get:", "post:", "put:", "delete:", "patch:"].contains(key) {
                operation = "\(key.dropLast().uppercased()) \(path)"
                routes[operation!] = []
            } else if indent == 4 {
                operation = nil
            } else if indent == 6, operation != nil {
                inResponses = key == "responses:"
            } else if indent == 8, inResponses, let operation, key.hasPrefix("\""),
                      let status = key.dropFirst().split(separator: "\"").first {
                routes[operation, default: []].insert(String(status))
            }
        }
        return routes
    }

    @Test("health answers without a token")
    func health() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let answer = try await api.request(.get, "/api/v1/health")
            #expect(answer.status == .ok)
            #expect(answer.json["status"] as? String == "ok")
            #expect(answer.json["database"] as? String == "ok")
            #expect((answer.json["version"] as? String)?.isEmpty == false)
            #expect((answer.json["repositories"] as? [[String: Any]])?.first?["status"] as? String == "ok")
        }
    }

    @Test("health says degraded when a repository's folder is gone")
    func degraded() async throws {
        let hub = try await TestHub.make()
        try FileManager.default.removeItem(atPath: hub.dataDirectory + "/repository")
        try await hub.run { api in
            let answer = try await api.request(.get, "/api/v1/health")
            #expect(answer.json["status"] as? String == "degraded")
            let token = try await api.login()
            let repo = try await api.request(.get, "/api/v1/repositories/1", token: token)
            #expect(repo.json["status"] as? String == "offline")
        }
    }

    @Test("a repository lost while the hub runs shows in health within the second a probe's answer is given again")
    func lostWhileRunning() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            #expect(try await api.request(.get, "/api/v1/health").json["status"] as? String == "ok")
            try FileManager.default.removeItem(atPath: hub.dataDirectory + "/repository")
            let lost = ContinuousClock.now
            while try await api.request(.get, "/api/v1/health").json["status"] as? String == "ok" {
                if ContinuousClock.now - lost > .seconds(2) { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(ContinuousClock.now - lost < .milliseconds(1500), "the lost repository did not show within 1.5 s")
        }
    }

    @Test("health answers within seconds when the catalog does not: 503 degraded, database timeout, with the reason")
    func catalogStuck() async throws {
        let hub = try await TestHub.make()
        // Every reader connection of the catalog busy with a read that does not end (a stuck disk, a runaway query).
        let release = DispatchSemaphore(value: 0)
        let stuck = (0..<hub.hub.catalog.pool.configuration.maximumReaderCount).map { _ in
            Task { try await hub.hub.catalog.pool.read { _ in _ = release.wait(timeout: .now() + 30) } }
        }
        try await hub.run { api in
            try await Task.sleep(for: .milliseconds(100))
            let start = ContinuousClock.now
            let answer = try await api.request(.get, "/api/v1/health")
            #expect(ContinuousClock.now - start < .seconds(5))
            #expect(answer.status == .serviceUnavailable)
            #expect(answer.json["status"] as? String == "degraded")
            #expect(answer.json["database"] as? String == "timeout")
            #expect((answer.json["reasons"] as? [String])?.first == "the catalog did not answer within 2.0 seconds", "\(answer.text)")
            for _ in stuck { release.signal() }
            for task in stuck { try await task.value }
            let healed = try await api.request(.get, "/api/v1/health")
            #expect(healed.json["status"] as? String == "ok", "\(healed.text)")
            #expect((healed.json["reasons"] as? [String]) == [])
        }
    }

    @Test("every served route is in the OpenAPI document with the statuses its access can answer, and every documented route is served")
    func openAPICoversRoutes() async throws {
        let hub = try await TestHub.make()
        let access = Dictionary(hub.hub.registry.routes.map { route in
            let path = route.path.hasPrefix("/api/v1/") ? String(route.path.dropFirst("/api/v1".count)) : route.path
            return ("\(route.method.rawValue) \(path)", route.access)
        }, uniquingKeysWith: { first, _ in first })
        try await hub.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/openapi.yaml", token: token)
            #expect(answer.status == .ok)
            #expect(answer.headers[.contentType] == "application/yaml")
            #expect(answer.text.hasPrefix("openapi: 3.1"))
            let documented = Self.documentedRoutes(answer.text)
            let served = Set(access.keys)
            #expect(served.subtracting(documented.keys).isEmpty, "served but undocumented: \(served.subtracting(documented.keys).sorted())")
            #expect(Set(documented.keys).subtracting(served).isEmpty, "documented but not served: \(Set(documented.keys).subtracting(served).sorted())")
            for (route, rule) in access.sorted(by: { $0.key < $1.key }) {
                let statuses = documented[route] ?? []
                guard case .role(let role) = rule else { continue }
                #expect(statuses.contains("401"), "\(route) needs a token but does not declare 401")
                #expect(role == .viewer || statuses.contains("403"), "\(route) needs \(role) but does not declare 403")
            }
        }
    }

    @Test("405 names the methods of the route the router picks: a literal segment over a parameter")
    func allowedMethods() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            // /restore/mounts is its own route (GET), though /restore/{mount_id} (DELETE) would fit it.
            let mounts = try await api.request(.delete, "/api/v1/restore/mounts", token: token)
            #expect(mounts.status == .methodNotAllowed)
            #expect(mounts.json["error"] as? String == "DELETE is not allowed on /api/v1/restore/mounts; use GET")
            let chain = try await api.request(.post, "/api/v1/backups/chain", token: token)
            #expect(chain.json["error"] as? String == "POST is not allowed on /api/v1/backups/chain; use GET")
        }
    }

    @Test("metrics are served under /api/v1 and at the root")
    func metricsPaths() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            for path in ["/api/v1/metrics", "/metrics"] {
                let answer = try await api.request(.get, path, token: token)
                #expect(answer.status == .ok, "\(path)")
                #expect(answer.text.contains("sendense_http_requests_total"), "\(path)")
                #expect(try await api.request(.get, path).status == .unauthorized, "\(path)")
            }
        }
    }

    @Test("metrics count requests by route and status in Prometheus text format")
    func metrics() async throws {
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.get, "/api/v1/users/999", token: token)
            _ = try await api.request(.get, "/api/v1/repositories", token: token)
            let answer = try await api.request(.get, "/metrics", token: token)
            #expect(answer.status == .ok)
            #expect(answer.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = answer.text
            #expect(text.contains(#"sendense_http_requests_total{method="GET",route="/api/v1/users/{id}",status="404"} 1"#))
            #expect(text.contains(#"sendense_http_requests_total{method="GET",route="/api/v1/repositories",status="200"} 1"#))
            #expect(text.contains("sendense_http_request_duration_seconds_bucket"))
            #expect(text.contains(#"sendense_jobs{type="backup",state="in_progress"} 0"#))
            #expect(!text.contains(token))
        }
    }
}
