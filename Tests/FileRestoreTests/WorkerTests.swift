import DiskImage
@testable import FileRestore
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The worker process that parses a restore point's filesystems for the hub:
/// the same answers as the browser in-process, confined, and replaceable
/// when it dies or hangs.
@Suite("File-restore worker process", .removesScratch)
struct WorkerTests {
    static func worker(_ path: String, timeout: TimeInterval = 60, memory: UInt64 = 2 << 30) throws -> FileRestoreWorker {
        try FileRestoreWorker(imagePath: path, settings: .init(executable: sendenseBinary, requestTimeout: timeout,
                                                                slowRequestTimeout: timeout, memoryLimitBytes: memory))
    }

    /// Every regular file under `path` read through the worker, relative path → bytes.
    static func tree(_ worker: FileRestoreWorker, _ path: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        var stack = [(path, "")]
        while let (folder, relative) = stack.popLast() {
            for entry in try worker.list(folder, offset: 0, limit: 10_000).entries {
                let name = relative.isEmpty ? entry.name : relative + "/" + entry.name
                switch entry.kind {
                case .directory: stack.append((entry.path, name))
                case .file: files[name] = try contents(worker, entry)
                default: break
                }
            }
        }
        return files
    }

    static func contents(_ worker: FileRestoreWorker, _ entry: RestoreEntry) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(entry.size))
        var offset = 0
        while offset < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                try worker.read(entry, at: UInt64(offset), into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<min(buffer.count, offset + (1 << 20))]))
            }
            try #require(n > 0)
            offset += n
        }
        return bytes
    }

    @Test("answers as the in-process browser does, from a confined process")
    func sameAnswers() throws {
        let disk = Fixtures.gpt
        let worker = try Self.worker(disk.qcow2)
        let browser = try Fixtures.browser(disk.qcow2)
        #expect(worker.volumes == browser.volumes && worker.filesystemType == "mixed" && worker.opened.partitionsAsFolders)
        for (index, volume) in worker.volumes.enumerated() {
            let restored = try Self.tree(worker, "/" + volume.name)
            let source = try Fixtures.sourceTree(disk.trees[index])
            #expect(restored.keys.sorted() == source.keys.sorted(), "\(volume.name)")
            for (name, bytes) in source { #expect(restored[name] == bytes, "\(volume.name)/\(name)") }
        }
        let ext4 = "/" + worker.volumes[1].name
        let page = try worker.list(ext4 + "/many", offset: 9_998, limit: 10)
        #expect(page.total == 10_000 && page.entries.map(\.name) == ["file-9998.txt", "file-9999.txt"])
        #expect(page.path == ext4 + "/many")
        #expect(throws: FileRestoreError.notFound(path: ext4 + "/nope")) { try worker.entry(at: ext4 + "/nope") }
        #expect(throws: FileRestoreError.self) { try worker.list("/../etc", offset: 0, limit: 1) }

        // Confined: no file access, no network, not root, bounded memory, one thread when it closed.
        let sandbox = worker.opened.sandbox
        #expect(sandbox.landlockABI >= 1 && sandbox.networkIsolated && sandbox.noNewPrivileges, "\(sandbox)")
        #expect(sandbox.uid != 0 && sandbox.threads == 1 && sandbox.memoryLimitBytes == 2 << 30, "\(sandbox)")
        #expect(sandbox.notes.isEmpty, "\(sandbox.notes)")

        // Folders as an archive, piece by piece, read back by tar; non-ASCII
        // names need the UTF-8 locale the worker loaded before its sandbox closed.
        let folder = scratchFolder()
        let documents = try worker.entry(at: ext4 + "/Documents")
        let accents = try worker.entry(at: ext4 + "/Données été")
        let archive = try worker.archive([ArchiveItem(entry: documents, name: "Documents"), ArchiveItem(entry: accents, name: "Données été")],
                                         format: .tarGz)
        var bytes: [UInt8] = []
        while let piece = try archive.next() { bytes += piece }
        try Data(bytes).write(to: URL(fileURLWithPath: folder + "/docs.tar.gz"))
        let listed = try mustRun(["tar", "-tzf", folder + "/docs.tar.gz"]).split(separator: "\n").sorted()
        #expect(listed == ["Documents/", "Documents/Reports/", "Documents/Reports/2025/", "Documents/Reports/2025/chart.png",
                           "Documents/Reports/2025/q1 report.txt", "Documents/big.bin", "Documents/empty.txt", "Documents/latest",
                           "Données été/", "Données été/résumé 日本.txt"])
        #expect(try worker.contents(of: [documents]) == DirectoryArchive.Contents(files: 5, directories: 3, bytes: 3 << 20 + 70_000 + 20))
    }

    @Test("a worker killed mid-download fails that download; the next request starts a new one")
    func killed() throws {
        let disk = Fixtures.gpt
        let worker = try Self.worker(disk.qcow2)
        let big = try worker.entry(at: "/" + worker.volumes[1].name + "/Documents/big.bin")
        let first = try #require(worker.processID)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        #expect(try buffer.withUnsafeMutableBytes { try worker.read(big, at: 0, into: $0) } == 1 << 20)
        let archive = try worker.archive([ArchiveItem(entry: try worker.entry(at: "/" + worker.volumes[1].name), name: "all")], format: .zip)
        _ = try archive.next()
        kill(first, SIGKILL)
        do {
            _ = try archive.next()
            Issue.record("a dead worker answered")
        } catch let error as FileRestoreError {
            guard case .workerFailed(let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("signal 9"), "\(reason)")
        }
        // The next request reopens; the old archive stays dead.
        #expect(try buffer.withUnsafeMutableBytes { try worker.read(big, at: 1 << 20, into: $0) } == 1 << 20)
        #expect(worker.processID != first && worker.restarts == 1)
        #expect(throws: FileRestoreError.self) { try archive.next() }
        worker.stop()
        #expect(worker.processID == nil)
        // No zombie, no worker left.
        #expect((try? String(contentsOfFile: "/proc/\(first)/status", encoding: .utf8)) == nil)
    }

    @Test("a worker that hangs is stopped after its request time; the next request starts a new one")
    func hung() throws {
        let worker = try Self.worker(Fixtures.gpt.qcow2, timeout: 1)
        let first = try #require(worker.processID)
        kill(first, SIGSTOP)
        let clock = ContinuousClock()
        let started = clock.now
        #expect(throws: FileRestoreError.workerTimedOut(seconds: 1)) { try worker.list("/", offset: 0, limit: 10) }
        #expect(clock.now - started < .seconds(3))
        #expect((try? String(contentsOfFile: "/proc/\(first)/status", encoding: .utf8)) == nil, "the hung worker is gone")
        #expect(try worker.list("/", offset: 0, limit: 10).total == 3)
        #expect(worker.processID != first && worker.restarts == 1)
    }

    @Test("a disk with nothing readable answers noFilesystem and leaves no process")
    func nothingReadable() throws {
        let folder = scratchFolder()
        try mustRun(["truncate", "-s", "8M", folder + "/zeros.raw"])
        do {
            _ = try Self.worker(folder + "/zeros.raw")
            Issue.record("opened a disk of zeros")
        } catch let error as FileRestoreError {
            guard case .noFilesystem = error else { Issue.record("\(error)"); return }
        }
        #expect(throws: FileRestoreError.self) { try Self.worker(folder + "/missing.qcow2") }
    }
}
