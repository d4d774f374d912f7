import Catalog
import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Telemetry samples, their roll-up, the summary, and the live event stream,
/// read by curl as a browser would.
@Suite(.serialized, .removesScratch) struct TelemetryAPITests {
    @Test("a backup streams created, progress and completed events; its samples roll up into a chart; the summary counts it")
    func telemetry() async throws {
        let folder = scratchFolder()
        let image = folder + "/vda.qcow2"
        try mustRun(["bash", "-c", "head -c 96M /dev/urandom > \(folder)/seed.raw && qemu-img convert -f raw -O qcow2 \(folder)/seed.raw \(image) && rm \(folder)/seed.raw"])
        let hub = try await TestHub.make(telemetryInterval: .milliseconds(200))
        try await hub.run { api in
            let token = try await api.login()
            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "tele", "source": ["type": "qemu_image", "disks": [["path": image, "label": "vda"]]]])
            let port = try #require(api.client.port)
            // The event stream, as a viewer.
            let curl = Process()
            curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
            curl.arguments = ["-sN", "--max-time", "60", "-H", "Authorization: Bearer \(viewer)", "http://127.0.0.1:\(port)/api/v1/events"]
            let output = Pipe()
            curl.standardOutput = output
            try curl.run()
            defer { if curl.isRunning { kill(curl.processIdentifier, SIGKILL) } }
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await api.request(.get, "/api/v1/events").status == .unauthorized)

            let started = try await api.request(.post, "/api/v1/backups", token: token, json: ["vm_name": "tele", "repository_id": "1", "backup_type": "full"])
            let id = try #require(started.json["backup_id"] as? String)
            // While it runs (its qemu-nbd frozen to be sure of that), history answers the samples so far.
            var server: ChildProcessRecord?
            for _ in 0..<2000 where server == nil {
                server = try await hub.hub.catalog.childProcesses().first { $0.jobId == id }
                try await Task.sleep(for: .milliseconds(1))
            }
            let pid = Int32(try #require(server).pid)
            kill(pid, SIGSTOP)
            try await Task.sleep(for: .milliseconds(1500))
            let live = try await api.request(.get, "/api/v1/telemetry/history/\(id)", token: viewer)
            kill(pid, SIGCONT)
            #expect(live.json["status"] as? String == "running", "\(live.text)")
            #expect(((live.json["chart_data"] as? [[String: Any]])?.count ?? 0) >= 2)

            let done = try await api.waitForBackup(id, token: token)
            #expect(done.json["status"] as? String == "completed")
            try await Task.sleep(for: .milliseconds(1500))
            kill(curl.processIdentifier, SIGKILL)
            curl.waitUntilExit()
            let stream = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let events = stream.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
            #expect(events.first == "job_created", "\(stream.prefix(500))")
            #expect(events.filter { $0 == "job_progress" }.count >= 2)
            #expect(events.last == "job_completed")
            #expect(stream.contains("\"job_id\":\"\(id)\""))
            // Progress events carry what the progress view shows: per-disk figures, the recent speed, the ETA.
            // (The copy itself takes well under a second once qemu-nbd runs again, so figures may all be zero.)
            let progress = stream.split(separator: "\n").filter { $0.hasPrefix("data: ") && $0.contains("\"phase\"") }
                .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            #expect(progress.count >= 2 && progress.allSatisfy { $0["disks"] is [Any] && $0["transfer_speed_bps"] is Int }, "\(progress)")
            for event in progress {
                for disk in event["disks"] as? [[String: Any]] ?? [] {
                    #expect(disk["disk_index"] as? Int == 0 && (disk["bytes_transferred"] as? Int ?? -1) <= (disk["total_bytes"] as? Int ?? 0), "\(disk)")
                }
            }

            let history = try await api.request(.get, "/api/v1/telemetry/history/\(id)", token: viewer)
            #expect(history.json["status"] as? String == "completed", "\(history.text)")
            let chart = try #require(history.json["chart_data"] as? [[String: Any]])
            #expect(chart.count >= 3 && chart.count <= 200)
            #expect(chart.first?["t"] as? Double == 0)
            #expect((history.json["peak_speed_bps"] as? Int ?? 0) > 0 && (history.json["avg_speed_bps"] as? Int ?? 0) > 0)
            #expect((history.json["duration_seconds"] as? Double ?? 0) > 1)
            #expect((history.json["total_bytes"] as? Int ?? 0) >= 96 << 20)
            #expect(try await hub.hub.catalog.telemetry(jobID: id).isEmpty, "the samples were rolled up and deleted")
            #expect(try await api.request(.get, "/api/v1/telemetry/history/nope", token: viewer).status == .notFound)

            let summary = try await api.request(.get, "/api/v1/telemetry/summary?vm_name=tele", token: viewer)
            #expect(summary.json["total_backups"] as? Int == 1 && summary.json["successful"] as? Int == 1, "\(summary.text)")
            #expect(summary.json["success_rate"] as? Double == 100)
            #expect((summary.json["avg_size_bytes"] as? Int ?? 0) >= 96 << 20)
            #expect(try await api.request(.get, "/api/v1/telemetry/summary?vm_name=nope", token: viewer).status == .notFound)
        }
    }
}
