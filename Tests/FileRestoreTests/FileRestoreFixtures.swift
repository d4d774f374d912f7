import DiskImage
import FileRestore
import Foundation
import TestSupport
import Testing

/// Disks shared by the file-restore tests: built once per process (they take
/// a few seconds), never changed by a test.
enum Fixtures {
    struct GPTDisk: Sendable {
        let qcow2: String
        let trees: [String]       // content folder per partition
        let partitions: [TestDisks.Partition]
    }

    static let gpt: GPTDisk = {
        let folder = scratchFolder("fixtures", shared: true)
        let ntfs = try! TestDisks.sampleTree(at: folder + "/ntfs", seed: 1, symlink: false)
        let ext4 = try! TestDisks.sampleTree(at: folder + "/ext4", seed: 2)
        try! FileManager.default.createDirectory(atPath: ext4 + "/many", withIntermediateDirectories: true)
        for index in 0..<10_000 {
            _ = FileManager.default.createFile(atPath: ext4 + "/many/file-\(index).txt", contents: Data("\(index)\n".utf8))
        }
        let fat = try! TestDisks.sampleTree(at: folder + "/fat", seed: 3, symlink: false)
        let partitions = [
            TestDisks.Partition(.ntfs(label: "WinData"), sizeMiB: 24, name: "Recovery", content: ntfs),
            TestDisks.Partition(.ext4(label: "linuxdata"), sizeMiB: 96, content: ext4),
            TestDisks.Partition(.fat32(label: "FATDATA"), sizeMiB: 40, content: fat),
        ]
        try! TestDisks.makeDisk(at: folder + "/disk.raw", label: "gpt", partitions: partitions)
        try! mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", folder + "/disk.raw", folder + "/disk.qcow2"])
        try? FileManager.default.removeItem(atPath: folder + "/disk.raw")
        return GPTDisk(qcow2: folder + "/disk.qcow2", trees: [ntfs, ext4, fat], partitions: partitions)
    }()

    static func browser(_ path: String) throws -> RestoreBrowser {
        try RestoreBrowser(image: DiskImages.open(path: path, backingsWithin: nil))
    }

    /// Reads a whole file of the session (test files are small).
    static func contents(_ browser: RestoreBrowser, _ path: String) throws -> [UInt8] {
        try contents(browser, try browser.entry(at: path))
    }

    static func contents(_ browser: RestoreBrowser, _ entry: RestoreEntry) throws -> [UInt8] {
        let file = try browser.openFile(entry)
        var bytes = [UInt8](repeating: 0, count: Int(file.size))
        var offset = 0
        while offset < bytes.count {
            let n = try bytes.withUnsafeMutableBytes { buffer in
                try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[offset...]), at: UInt64(offset))
            }
            try #require(n > 0)
            offset += n
        }
        return bytes
    }

    /// Every regular file under `path` in the session, relative path → bytes.
    static func tree(_ browser: RestoreBrowser, _ path: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        var stack = [(path, "")]
        while let (folder, relative) = stack.popLast() {
            for entry in try browser.list(folder) {
                let name = relative.isEmpty ? entry.name : relative + "/" + entry.name
                switch entry.kind {
                case .directory: stack.append((entry.path, name))
                case .file: files[name] = try contents(browser, entry)
                default: break
                }
            }
        }
        return files
    }

    /// Every regular file under a folder of the hub's own filesystem.
    static func sourceTree(_ folder: String) throws -> [String: [UInt8]] {
        var files: [String: [UInt8]] = [:]
        let enumerator = FileManager.default.enumerator(atPath: folder)
        while let name = enumerator?.nextObject() as? String {
            let path = folder + "/" + name
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            if attributes[.type] as? FileAttributeType == .typeRegular {
                files[name] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            }
        }
        return files
    }
}
