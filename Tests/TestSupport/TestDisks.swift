// Disk images with real partition tables and filesystems, built the way an
// admin would (sfdisk, mkfs.ext4 -d, mkntfs + ntfs-3g, mkfs.vfat + mcopy),
// never through a kernel mount: each filesystem is made in a file of its own
// and copied into the disk at its partition's offset.
import Foundation
import Testing

public enum TestDisks {
    public enum FileSystem: Sendable {
        case ext4(label: String)
        case ntfs(label: String)
        case fat32(label: String)
    }

    public struct Partition: Sendable {
        public var fileSystem: FileSystem
        public var sizeMiB: Int
        /// GPT partition name (GPT disks only).
        public var name: String?
        /// The folder whose tree the filesystem receives.
        public var content: String

        public init(_ fileSystem: FileSystem, sizeMiB: Int, name: String? = nil, content: String) {
            self.fileSystem = fileSystem
            self.sizeMiB = sizeMiB
            self.name = name
            self.content = content
        }
    }

    /// Makes a filesystem image file holding `content`'s tree.
    public static func makeFileSystem(_ fileSystem: FileSystem, sizeMiB: Int, content: String, at path: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        switch fileSystem {
        case .ext4(let label):
            // 4 KiB blocks, as on real disks (mke2fs picks 1 KiB for small
            // filesystems, where libtsk 4.11 cannot read large htree folders).
            try mustRun(["mkfs.ext4", "-q", "-F", "-b", "4096", "-L", label, "-d", content, path, "\(sizeMiB)M"])
        case .fat32(let label):
            try mustRun(["truncate", "-s", "\(sizeMiB)M", path])
            try mustRun(["mkfs.vfat", "-F", "32", "-n", label, path])
            let items = try FileManager.default.contentsOfDirectory(atPath: content).map { content + "/" + $0 }
            if !items.isEmpty {
                // -s recursive, -m keep modification times, -Q stop on error; UTF-8 names.
                try mustRun(["env", "LC_ALL=C.UTF-8", "mcopy", "-s", "-m", "-Q", "-i", path] + items + ["::/"])
            }
        case .ntfs(let label):
            try mustRun(["truncate", "-s", "\(sizeMiB)M", path])
            try mustRun(["mkntfs", "-q", "-F", "-Q", "-L", label, path])
            // ntfscp cannot make folders: fill the volume through ntfs-3g (FUSE, no loop device).
            let mountPoint = path + ".mnt"
            try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
            // ntfs-3g stays behind as a daemon: it must not inherit our output pipe
            // or Foundation's process-watch socket (waitUntilExit would never return),
            // so it is started through Python, which closes every other descriptor.
            try mustRun(["python3", "-c", """
                import subprocess, sys
                sys.exit(subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                """, "ntfs-3g", path, mountPoint])
            defer {
                _ = try? tool(["umount", mountPoint])
                try? FileManager.default.removeItem(atPath: mountPoint)
            }
            try mustRun(["cp", "-a", content + "/.", mountPoint + "/"])
            try mustRun(["sync", "-f", mountPoint])
        }
    }

    /// A GPT (`label: "gpt"`) or MBR (`"dos"`) disk. On MBR, the partitions
    /// from the fourth on are logical ones inside an extended partition.
    public static func makeDisk(at path: String, label: String, partitions: [Partition]) throws {
        let folder = path + ".parts"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let totalMiB = partitions.reduce(2) { $0 + $1.sizeMiB + 1 } + 1
        try? FileManager.default.removeItem(atPath: path)
        try mustRun(["truncate", "-s", "\(totalMiB)M", path])

        // Partition n starts at 1 MiB + the sizes before it + 1 MiB each (room for EBRs).
        var starts: [Int] = []
        var next = 1
        for partition in partitions {
            if label == "dos" && starts.count == 3 { next += 1 }
            starts.append(next)
            next += partition.sizeMiB + 1
        }
        var script = "label: \(label)\nunit: sectors\n"
        for (index, partition) in partitions.enumerated() {
            let start = starts[index] * 2048, size = partition.sizeMiB * 2048
            if label == "dos" && index == 3 {
                script += "start=\(start - 2048), size=\((totalMiB - starts[3]) * 2048), type=5\n"
            }
            var line = "start=\(start), size=\(size), type=\(typeCode(partition.fileSystem, label: label))"
            if let name = partition.name, label == "gpt" { line += ", name=\"\(name)\"" }
            script += line + "\n"
        }
        let scriptPath = folder + "/layout.sfdisk"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        try mustRun(["sh", "-c", "sfdisk --quiet '\(path)' < '\(scriptPath)'"])
        for (index, partition) in partitions.enumerated() {
            let image = folder + "/part\(index).img"
            try makeFileSystem(partition.fileSystem, sizeMiB: partition.sizeMiB, content: partition.content, at: image)
            try mustRun(["dd", "if=\(image)", "of=\(path)", "bs=1M", "seek=\(starts[index])", "conv=notrunc,sparse", "status=none"])
        }
    }

    /// Byte offset of partition `index` (0-based) as `makeDisk` lays them out.
    public static func partitionOffset(_ index: Int, label: String, partitions: [Partition]) -> UInt64 {
        var next = 1
        for (position, partition) in partitions.enumerated() {
            if label == "dos" && position == 3 { next += 1 }
            if position == index { return UInt64(next) << 20 }
            next += partition.sizeMiB + 1
        }
        return 0
    }

    static func typeCode(_ fileSystem: FileSystem, label: String) -> String {
        switch (fileSystem, label) {
        case (.ext4, "gpt"): "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        case (_, "gpt"): "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
        case (.ext4, _): "83"
        case (.ntfs, _): "7"
        case (.fat32, _): "c"
        }
    }

    /// Every regular file under `folder`, relative path → SHA-256 (hex).
    public static func fileHashes(_ folder: String) throws -> [String: String] {
        let output = try mustRun(["sh", "-c", "cd '\(folder)' && find . -type f -print0 | xargs -0 -r sha256sum"])
        var hashes: [String: String] = [:]
        for line in output.split(separator: "\n") {
            let hash = line.prefix(64)
            var name = line.dropFirst(66)
            if name.hasPrefix("./") { name = name.dropFirst(2) }
            hashes[String(name)] = String(hash)
        }
        return hashes
    }

    /// A tree with what file restores must get right: nested folders, unicode
    /// and space-laden names, an empty file, a larger random file, and
    /// (where `symlink`) a link. Answers the folder.
    public static func sampleTree(at folder: String, seed: UInt64, largeBytes: Int = 3 << 20, symlink: Bool = true) throws -> String {
        let manager = FileManager.default
        try manager.createDirectory(atPath: folder + "/Documents/Reports/2025", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: folder + "/Données été", withIntermediateDirectories: true)
        try manager.createDirectory(atPath: folder + "/empty folder", withIntermediateDirectories: true)
        var random = SplitMix64(seed: seed)
        try Data("quarterly numbers \(seed)\n".utf8).write(to: URL(fileURLWithPath: folder + "/Documents/Reports/2025/q1 report.txt"))
        try Data(random.bytes(70_000)).write(to: URL(fileURLWithPath: folder + "/Documents/Reports/2025/chart.png"))
        try Data(random.bytes(largeBytes)).write(to: URL(fileURLWithPath: folder + "/Documents/big.bin"))
        try Data().write(to: URL(fileURLWithPath: folder + "/Documents/empty.txt"))
        try Data("ünïcödé \(seed)\n".utf8).write(to: URL(fileURLWithPath: folder + "/Données été/résumé 日本.txt"))
        try Data("top \(seed)\n".utf8).write(to: URL(fileURLWithPath: folder + "/readme.md"))
        if symlink {
            try manager.createSymbolicLink(atPath: folder + "/Documents/latest", withDestinationPath: "Reports/2025/q1 report.txt")
        }
        // Fixed times, so listings can be checked against them.
        try mustRun(["sh", "-c", "cd '\(folder)' && find . -exec touch -h -d '2025-06-01 12:00:00 UTC' {} +"])
        return folder
    }
}
