import DiskImage
@testable import FileRestore
import Foundation
import TestSupport
import Testing

@Suite("Restore browser over real partitioned disks", .removesScratch)
struct RestoreBrowserTests {
    @Test("GPT disk with NTFS, ext4 and FAT32: partitions as folders, named by GPT name or label")
    func gptPartitions() throws {
        let browser = try Fixtures.browser(Fixtures.gpt.qcow2)
        #expect(browser.partitionsAsFolders)
        #expect(browser.volumes.map(\.filesystemType) == ["ntfs", "ext4", "fat32"])
        #expect(browser.volumes.map(\.name) == [
            "Partition 1 - Recovery (24.0 MB)", "Partition 2 - linuxdata (96.0 MB)", "Partition 3 - FATDATA (40.0 MB)",
        ])
        #expect(browser.volumes.map(\.offsetBytes) == [1 << 20, 26 << 20, 123 << 20])
        #expect(browser.filesystemType == "mixed")
        let root = try browser.list("/")
        #expect(root.map(\.name) == browser.volumes.map(\.name))
        #expect(root.allSatisfy { $0.kind == .directory })
    }

    @Test("every file of every partition reads back byte for byte; nothing hidden shows")
    func contentsMatch() throws {
        let disk = Fixtures.gpt
        let browser = try Fixtures.browser(disk.qcow2)
        for (index, volume) in browser.volumes.enumerated() {
            let restored = try Fixtures.tree(browser, "/" + volume.name)
            let source = try Fixtures.sourceTree(disk.trees[index])
            #expect(restored.keys.sorted() == source.keys.sorted(), "\(volume.name)")
            for (name, bytes) in source { #expect(restored[name] == bytes, "\(volume.name)/\(name)") }
            let top = try browser.list("/" + volume.name).map(\.name)
            #expect(!top.contains { $0.hasPrefix("$") || $0 == "." || $0 == ".." }, "\(volume.name): \(top)")
        }
    }

    @Test("listing: folders first, names sorted, sizes, modes and times of ext4")
    func listingDetails() throws {
        let browser = try Fixtures.browser(Fixtures.gpt.qcow2)
        let ext4 = "/" + browser.volumes[1].name
        let top = try browser.list(ext4)
        #expect(top.map(\.name) == ["Documents", "Données été", "empty folder", "lost+found", "many", "readme.md"])
        let docs = try browser.list(ext4 + "/Documents")
        #expect(docs.map(\.name) == ["Reports", "big.bin", "empty.txt", "latest"])
        let big = try #require(docs.first { $0.name == "big.bin" })
        #expect(big.size == 3 << 20 && big.kind == .file && big.mode == 0o644)
        #expect(big.path == ext4 + "/Documents/big.bin")
        #expect(big.modified == ISO8601DateFormatter().date(from: "2025-06-01T12:00:00Z"))
        let link = try #require(docs.first { $0.name == "latest" })
        #expect(link.kind == .symlink && link.linkTarget == "Reports/2025/q1 report.txt")
        #expect(try browser.list(ext4 + "/empty folder").isEmpty)
        #expect(try Fixtures.contents(browser, ext4 + "/Données été/résumé 日本.txt") == Array("ünïcödé 2\n".utf8))
    }

    @Test("a folder of 10,000 files lists completely and in natural order")
    func hugeFolder() throws {
        let browser = try Fixtures.browser(Fixtures.gpt.qcow2)
        let clock = ContinuousClock()
        var entries: [RestoreEntry] = []
        let elapsed = try clock.measure { entries = try browser.list("/" + browser.volumes[1].name + "/many") }
        #expect(entries.count == 10_000)
        #expect(entries.prefix(3).map(\.name) == ["file-0.txt", "file-1.txt", "file-2.txt"])
        #expect(entries.last?.name == "file-9999.txt")
        print("listing 10,000 entries took \(elapsed)")
    }

    @Test("symlinks are listed, never followed; bad paths are refused")
    func safety() throws {
        let browser = try Fixtures.browser(Fixtures.gpt.qcow2)
        let ext4 = "/" + browser.volumes[1].name
        let link = try browser.entry(at: ext4 + "/Documents/latest")
        #expect(throws: FileRestoreError.symbolicLink(path: ext4 + "/Documents/latest", target: "Reports/2025/q1 report.txt")) {
            try browser.openFile(link)
        }
        #expect(throws: FileRestoreError.symbolicLink(path: ext4 + "/Documents/latest", target: "Reports/2025/q1 report.txt")) {
            try browser.list(ext4 + "/Documents/latest/x")
        }
        for bad in ["/../etc", ext4 + "/Documents/../..", "relative/path", "/a\u{0}b", ext4 + "/./Documents"] {
            #expect(throws: FileRestoreError.self, "\(bad)") { try browser.list(bad) }
            do { _ = try browser.list(bad) } catch let error as FileRestoreError {
                guard case .invalidPath = error else { Issue.record("\(bad): \(error)"); continue }
            }
        }
        #expect(throws: FileRestoreError.notFound(path: "/Partition 9 (1.0 GB)")) { try browser.list("/Partition 9 (1.0 GB)") }
        #expect(throws: FileRestoreError.notFound(path: ext4 + "/nope")) { try browser.list(ext4 + "/nope") }
        #expect(throws: FileRestoreError.notADirectory(path: ext4 + "/readme.md")) { try browser.list(ext4 + "/readme.md") }
        #expect(throws: FileRestoreError.isADirectory(path: ext4 + "/Documents")) {
            try browser.openFile(try browser.entry(at: ext4 + "/Documents"))
        }
    }

    @Test("MBR disk with an extended partition: logical partitions are listed too")
    func mbrExtended() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var partitions: [TestDisks.Partition] = []
        for index in 0..<5 {
            let content = folder + "/tree\(index)"
            try FileManager.default.createDirectory(atPath: content, withIntermediateDirectories: true)
            try Data("partition \(index)\n".utf8).write(to: URL(fileURLWithPath: content + "/which.txt"))
            partitions.append(TestDisks.Partition(index == 1 ? .fat32(label: "") : .ext4(label: index == 4 ? "logical2" : ""),
                                                  sizeMiB: index == 1 ? 36 : 8, content: content))
        }
        try TestDisks.makeDisk(at: folder + "/mbr.raw", label: "dos", partitions: partitions)
        let browser = try Fixtures.browser(folder + "/mbr.raw")
        #expect(browser.volumes.map(\.name) == [
            "Partition 1 (8.0 MB)", "Partition 2 (36.0 MB)", "Partition 3 (8.0 MB)", "Partition 4 (8.0 MB)",
            "Partition 5 - logical2 (8.0 MB)",
        ])
        for (index, volume) in browser.volumes.enumerated() {
            #expect(try Fixtures.contents(browser, "/\(volume.name)/which.txt") == Array("partition \(index)\n".utf8))
        }
    }

    @Test("a bare filesystem shows its root directly")
    func bareFilesystem() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let tree = try TestDisks.sampleTree(at: folder + "/tree", seed: 9, largeBytes: 100_000)
        try TestDisks.makeFileSystem(.ext4(label: "bare"), sizeMiB: 16, content: tree, at: folder + "/fs.raw")
        let browser = try Fixtures.browser(folder + "/fs.raw")
        #expect(!browser.partitionsAsFolders)
        #expect(browser.filesystemType == "ext4")
        #expect(try browser.list("/").map(\.name).contains("Documents"))
        let restored = try Fixtures.tree(browser, "/")
        for (name, bytes) in try Fixtures.sourceTree(tree) { #expect(restored[name] == bytes, "\(name)") }
    }

    @Test("no filesystem, unreadable partitions and damaged metadata give errors, not crashes")
    func damage() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try mustRun(["truncate", "-s", "8M", folder + "/zeros.raw"])
        #expect(throws: FileRestoreError.self) { try Fixtures.browser(folder + "/zeros.raw") }

        // A GPT disk whose second partition holds garbage: listed as unsupported.
        let tree = try TestDisks.sampleTree(at: folder + "/tree", seed: 5, largeBytes: 10_000, symlink: false)
        let partitions = [TestDisks.Partition(.ext4(label: "good"), sizeMiB: 8, content: tree),
                          TestDisks.Partition(.ext4(label: "bad"), sizeMiB: 8, content: tree)]
        try TestDisks.makeDisk(at: folder + "/disk.raw", label: "gpt", partitions: partitions)
        let second = TestDisks.partitionOffset(1, label: "gpt", partitions: partitions)
        var random = SplitMix64(seed: 77)
        RawReference(existing: folder + "/disk.raw", writable: true).write(random.bytes(8 << 20), at: second)
        let browser = try Fixtures.browser(folder + "/disk.raw")
        #expect(browser.volumes.map(\.filesystemType) == ["ext4", "unsupported"])
        #expect(browser.volumes[1].unsupportedReason?.isEmpty == false)
        do {
            _ = try browser.list("/" + browser.volumes[1].name)
            Issue.record("an unsupported partition was listed")
        } catch let error as FileRestoreError {
            guard case .unsupportedFilesystem = error else { Issue.record("\(error)"); return }
        }

        // A bare ext4 whose /Documents inode is overwritten: that folder
        // fails with a message, the rest of the filesystem still reads.
        try TestDisks.makeFileSystem(.ext4(label: "hurt"), sizeMiB: 16, content: tree, at: folder + "/hurt.raw")
        let imap = try mustRun(["debugfs", "-R", "imap /Documents", folder + "/hurt.raw"])
        // "Inode 12 is part of block group 0\n\tlocated at block 36, offset 0x0b00"
        let words = imap.split(whereSeparator: { " \t\n,".contains($0) })
        let block = try #require(words.lastIndex(of: "block").flatMap { UInt64(words[$0 + 1]) })
        let within = try #require(words.firstIndex(of: "offset").flatMap { UInt64(words[$0 + 1].dropFirst(2), radix: 16) })
        RawReference(existing: folder + "/hurt.raw", writable: true).write(random.bytes(256), at: block * 4096 + within)
        let hurt = try Fixtures.browser(folder + "/hurt.raw")
        #expect(throws: FileRestoreError.self) { try hurt.list("/Documents/Reports") }
        #expect(try Fixtures.contents(hurt, "/readme.md") == Array("top 5\n".utf8))
    }
}
