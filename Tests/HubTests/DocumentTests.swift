import Foundation
import HTTPTypes
import Hub
import Testing
import TestSupport

@Suite("Health, OpenAPI document and metrics", .removesScratch)
struct DocumentTests {
    /// `path → methods` read from the served OpenAPI YAML: a path is a
    /// two-space-indented key under `paths:`, a method a four-space one.
    static func documentedRoutes(_ yaml: String) -> Set<String> {
        var routes: Set<String> = []
        var inPaths = false
        var current: String?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" { inPaths = true; continue }
            guard inPaths else { continue }
            if !line.hasPrefix(" "), !line.isEmpty { break }
            if line.hasPrefix("  /"), line.hasSuffix(":"), !line.hasPrefix("   ") {
                current = String(line.dropFirst(2).dropLast())
            } else if let current, line.hasPrefix("    "), !line.hasPrefix("     ") {
                let key = line.trimmingCharacters(in: .whitespaces).dropLast()
                if ["get", "post", "put", "delete", "patch"].contains(String(key)) {
                    routes.insert("\(key.uppercased()) \(current)")
                }
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

    @Test("every served route is in the OpenAPI document, and every documented route is served")
    func openAPICoversRoutes() async throws {
        let hub = try await TestHub.make()
        let served = Set(hub.hub.registry.routes.map { route in
            let path = route.path.hasPrefix("/api/v1/") ? String(route.path.dropFirst("/api/v1".count)) : route.path
            return "\(route.method.rawValue) \(path)"
        })
        try await hub.run { api in
            let token = try await api.login()
            let answer = try await api.request(.get, "/api/v1/openapi.yaml", token: token)
            #expect(answer.status == .ok)
            #expect(answer.headers[.contentType] == "application/yaml")
            #expect(answer.text.hasPrefix("openapi: 3.1"))
            let documented = Self.documentedRoutes(answer.text)
            #expect(served.subtracting(documented).isEmpty, "served but undocumented: \(served.subtracting(documented).sorted())")
            #expect(documented.subtracting(served).isEmpty, "documented but not served: \(documented.subtracting(served).sorted())")
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
