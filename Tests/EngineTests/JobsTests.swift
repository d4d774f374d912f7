import Catalog
import Engine
import Foundation
import Logging
import SendenseCore
import Synchronization
import TestSupport
import Testing

@Suite("One job registry: recorded from the start, live progress, one final state", .removesScratch)
struct JobsTests {
    /// A 4 MiB qcow2 with data in it, and a registry over a catalog on disk.
    private func lab() throws -> (folder: String, image: String, catalog: CatalogDatabase, jobs: Jobs) {
        let folder = scratchFolder()
        let image = folder + "/disk.qcow2"
        try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "4M"])
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 512k", image])
        let catalog = try CatalogDatabase(path: folder + "/catalog.sqlite")
        return (folder, image, catalog, Jobs(catalog: catalog, logger: Logger(label: "test")))
    }

    @Test("restores: running in the catalog before they end, completed with their bytes after; each restored exactly")
    func restores() async throws {
        let (folder, image, catalog, jobs) = try lab()
        for index in 0..<2 {
            let target = folder + "/restored-\(index).raw"
            let started = await jobs.start(.restore, detail: "b disk 0", restoring: ("b", 0)) { progress in
                try await DiskRestore.restore(image: image, to: .file(path: target, format: "raw"), progress: progress)
                return .completed()
            }
            #expect(started.state == .running && started.id.hasPrefix("restore-"))
            let recorded = try #require(try await catalog.job(id: started.id))
            #expect(recorded.type == .restore && recorded.backupId == "b" && recorded.diskIndex == 0)
            await jobs.wait(for: started.id)
            let ended = try #require(try await jobs.job(started.id))
            #expect(ended.state == .completed && ended.detail == "b disk 0" && ended.errorMessage == nil)
            #expect(ended.totalBytes == 4 << 20 && ended.bytesDone == ended.totalBytes && ended.completedAt != nil)
            #expect(try await catalog.job(id: started.id)?.status == .completed)
            try mustRun(["qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", target, image])
        }
        #expect(try await jobs.recent(limit: 10).map(\.kind) == [.restore, .restore])
        try catalog.close()
    }

    @Test("a failing job ends failed with its error; a cancelled one cancelled; a verdict of failure without an error too")
    func endings() async throws {
        let (folder, _, catalog, jobs) = try lab()
        let missing = await jobs.start(.restore, detail: "b disk 1", restoring: ("b", 1)) { progress in
            try await DiskRestore.restore(image: folder + "/nothing.qcow2", to: .file(path: folder + "/out.raw", format: "raw"),
                                          progress: progress)
            return .completed()
        }
        await jobs.wait(for: missing.id)
        let failed = try #require(try await catalog.job(id: missing.id))
        #expect(failed.status == .failed && failed.detail == "b disk 1" && failed.errorMessage?.contains("nothing.qcow2") == true)
        #expect(!FileManager.default.fileExists(atPath: folder + "/out.raw"))

        let slow = await jobs.start(.verify) { _ in
            try await Task.sleep(for: .seconds(30))
            return .completed()
        }
        #expect(try await jobs.cancel(slow.id) == .cancelling)
        await jobs.wait(for: slow.id)
        #expect(try await catalog.job(id: slow.id)?.status == .cancelled)
        #expect(try await jobs.cancel(slow.id) == .notRunning)
        #expect(try await jobs.cancel("verify-nosuch") == .unknown)

        let verdict = try await jobs.run(.verify, vmName: "vm1") { progress in
            progress.report(percent: 40)
            return (7, JobEnd.failed("b: mismatch"))
        }
        #expect(verdict == 7)
        let row = try #require(try await jobs.recent(limit: 1).first)
        #expect(row.kind == .verify && row.state == .failed && row.errorMessage == "b: mismatch" && row.vmName == "vm1")
        try catalog.close()
    }

    @Test("a job another service runs (a backup) is listed and cancelled through the registry while adopted, not after")
    func adopted() async throws {
        let (_, _, catalog, jobs) = try lab()
        let cancelled = Mutex(false)
        await jobs.adopt("backup-x", percent: { 42 }, cancel: {
            cancelled.withLock { $0 = true }
            return true
        })
        #expect(try await jobs.cancel("backup-x") == .cancelling)
        #expect(cancelled.withLock { $0 })
        await jobs.release("backup-x")
        #expect(try await jobs.cancel("backup-x") == .unknown)
        try catalog.close()
    }

    @Test("a cleanup cannot be cancelled; at shutdown what runs ends failed, interrupted")
    func cleanupAndShutdown() async throws {
        let (_, _, catalog, jobs) = try lab()
        let gate = AsyncStream<Void>.makeStream()
        let cleanup = Task {
            try await jobs.run(.cleanup, cancellable: false) { _ in
                for await _ in gate.stream {}
                return ((), JobEnd.completed("swept"))
            }
        }
        var running: Job?
        for _ in 0..<200 where running == nil {
            running = try await jobs.recent(limit: 1).first { $0.state == .running }
            if running == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let id = try #require(running?.id)
        #expect(try await jobs.cancel(id) == .notCancellable)
        gate.continuation.finish()
        try await cleanup.value
        #expect(try await catalog.job(id: id)?.status == .completed)

        let long = await jobs.start(.prune, vmName: "vm1") { _ in
            try await Task.sleep(for: .seconds(30))
            return .completed()
        }
        await jobs.shutdown()
        let cut = try #require(try await catalog.job(id: long.id))
        #expect(cut.status == .failed && cut.errorMessage == "interrupted by hub shutdown" && cut.completedAt != nil)
        try catalog.close()
    }
}
