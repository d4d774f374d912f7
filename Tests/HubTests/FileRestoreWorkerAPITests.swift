import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A session's worker killed in the middle of a download, as a crash on a
/// hostile filesystem would: only that download fails.
@Suite("File-restore workers under the hub", .removesScratch)
struct FileRestoreWorkerAPITests {
    /// Pids of running file-restore workers whose image path contains `needle`
    /// (`/<backup id>/` names one point: ids of one second share a prefix)
    /// under this hub's data folder (tests running beside it make the same ids).
    static func workers(reading needle: String, in data: String = "/") -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let arguments = raw.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return arguments.count > 3 && arguments[1] == "flr-worker" && arguments.contains { $0.contains(needle) && $0.hasPrefix(data) }
        }
    }

    /// curl downloading `path` at `rate` into `output`; answers the process.
    static func curl(port: Int, token: String, path: String, output: String, rate: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "--fail-with-body", "--limit-rate", rate, "-o", output, "-H", "Authorization: Bearer \(token)",
                             "http://127.0.0.1:\(port)\(path)"]
        try process.run()
        return process
    }

    @Test("SIGKILL of a worker mid-download: that download fails, the next request reopens, another session and a backup go on")
    func workerKilled() async throws {
        let folder = scratchFolder()
        let tree = try TestDisks.sampleTree(at: folder + "/tree", seed: 21, largeBytes: 24 << 20, symlink: false)
        let partitions = [TestDisks.Partition(.ext4(label: "data"), sizeMiB: 48, content: tree)]
        try TestDisks.makeDisk(at: folder + "/disk.raw", label: "gpt", partitions: partitions)
        try mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", folder + "/disk.raw", folder + "/vda.qcow2"])
        let bigHash = try #require(try TestDisks.fileHashes(tree)["Documents/big.bin"])
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "files1", "source": ["type": "qemu_image", "disks": [["path": folder + "/vda.qcow2", "label": "vda"]]],
            ])
            try #require(registered.status == .created, "\(registered.text)")
            let first = try await FileRestoreAPITests.backup(api, token, type: "full")
            let second = try await FileRestoreAPITests.backup(api, token, type: "full")
            let mountA = try #require(try await FileRestoreAPITests.mount(api, token, first).json["mount_id"] as? String)
            let mountB = try #require(try await FileRestoreAPITests.mount(api, token, second).json["mount_id"] as? String)
            let workerA = try #require(Self.workers(reading: "/\(first)/", in: hub.dataDirectory).first)
            #expect(Self.workers(reading: "/\(second)/", in: hub.dataDirectory).count == 1)

            // One partition: its filesystem is the session's root.
            let path = FileRestoreAPITests.query("/Documents/big.bin")
            let port = try #require(api.client.port)
            // Two downloads and a backup at once. A's is the whole disk as a
            // tar.gz, read slowly (far more than socket buffers hold stays in
            // the worker when it dies): an archive lives in its worker, so its
            // download cannot go on in another (a file's next piece could).
            let downloadA = try Self.curl(port: port, token: token, path: "/api/v1/restore/\(mountA)/download-directory?path=/&format=tar.gz",
                                          output: folder + "/a.tar.gz", rate: "1M")
            let downloadB = try Self.curl(port: port, token: token, path: "/api/v1/restore/\(mountB)/download?path=\(path)",
                                          output: folder + "/b.bin", rate: "8M")
            let backup = try await api.request(.post, "/api/v1/backups", token: token,
                                               json: ["vm_name": "files1", "repository_id": "1", "backup_type": "incremental"])
            try #require(backup.status == .created, "\(backup.text)")
            try await Task.sleep(for: .milliseconds(500))
            kill(workerA, SIGKILL)
            downloadA.waitUntilExit()
            downloadB.waitUntilExit()

            // A's download was cut; B's is whole; the backup completed.
            #expect(downloadA.terminationStatus != 0)
            #expect(try tool(["tar", "-tzf", folder + "/a.tar.gz"]).status != 0, "the cut archive does not read as whole")
            #expect(downloadB.terminationStatus == 0, "\(String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: folder + "/b.bin")))?.prefix(300) ?? Data(), as: UTF8.self))")
            #expect(FileRestoreAPITests.sha256(try Data(contentsOf: URL(fileURLWithPath: folder + "/b.bin"))) == bigHash)
            let backupID = try #require(backup.json["backup_id"] as? String)
            #expect(try await api.waitForBackup(backupID, token: token).json["status"] as? String == "completed")

            // The next request on A starts a new worker and reads the whole file.
            let again = try await api.request(.get, "/api/v1/restore/\(mountA)/download?path=\(path)", token: token)
            #expect(again.status == .ok && FileRestoreAPITests.sha256(again.body) == bigHash, "\(again.text.prefix(300))")
            let restarted = Self.workers(reading: "/\(first)/", in: hub.dataDirectory)
            #expect(restarted.count == 1 && restarted.first != workerA, "\(restarted) after \(workerA)")
            #expect(try await api.request(.get, "/api/v1/health").status == .ok)

            // Closing the session ends its worker.
            let closed = try await api.request(.delete, "/api/v1/restore/\(mountA)", token: token)
            #expect(closed.status == .ok && Self.workers(reading: "/\(first)/", in: hub.dataDirectory).isEmpty, "\(closed.text) \(Self.workers(reading: "/\(first)/", in: hub.dataDirectory))")
        }
        // The hub's shutdown ends every worker.
        #expect(Self.workers(reading: hub.dataDirectory).isEmpty)
    }
}
