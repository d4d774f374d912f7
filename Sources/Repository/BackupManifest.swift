import Foundation
import SendenseCore

/// `<backup>/manifest.json`: everything needed to restore and verify a
/// backup without the hub's catalog.
public struct BackupManifest: Codable, Equatable, Sendable {
    public static let fileName = "manifest.json"
    public static let currentFormatVersion = 1

    public struct VM: Codable, Equatable, Sendable {
        public var name: String
        public var sourceType: SourceKind
        /// Source-specific identity (image paths, vCenter + moref), for rebuilds.
        public var identity: [String: String]

        public init(name: String, sourceType: SourceKind, identity: [String: String]) {
            self.name = name
            self.sourceType = sourceType
            self.identity = identity
        }
    }

    /// A run of the disk this backup wrote: data with its SHA-256, or a
    /// range recorded as zero clusters.
    public struct Run: Codable, Equatable, Sendable {
        public enum Kind: String, Codable, Sendable {
            case data
            case zero
        }

        public var offset: UInt64
        public var length: UInt64
        public var kind: Kind
        public var sha256: String?

        public init(offset: UInt64, length: UInt64, kind: Kind, sha256: String?) {
            self.offset = offset
            self.length = length
            self.kind = kind
            self.sha256 = sha256
        }
    }

    public struct Disk: Codable, Equatable, Sendable {
        public var index: Int
        public var label: String
        public var capacityBytes: UInt64
        public var file: String
        /// The parent's file this image names as backing file, if any.
        public var backingFile: String?
        /// Per disk: a disk whose bitmap was lost is copied whole (`full`)
        /// inside an incremental backup.
        public var copy: BackupType
        public var checkpoint: String?
        public var bytesWritten: UInt64
        public var note: String?
        public var runs: [Run]

        public init(index: Int, label: String, capacityBytes: UInt64, file: String, backingFile: String?, copy: BackupType,
                    checkpoint: String?, bytesWritten: UInt64, note: String?, runs: [Run]) {
            self.index = index
            self.label = label
            self.capacityBytes = capacityBytes
            self.file = file
            self.backingFile = backingFile
            self.copy = copy
            self.checkpoint = checkpoint
            self.bytesWritten = bytesWritten
            self.note = note
            self.runs = runs
        }
    }

    public var formatVersion: Int = currentFormatVersion
    public var backupId: String
    public var backupType: BackupType
    public var parentId: String?
    public var vm: VM
    public var createdAt: Date
    public var completedAt: Date
    public var disks: [Disk]
    /// Whether the guest helped (absent in manifests written before it was recorded).
    public var consistency: PointConsistency?
    /// How it was made consistent, or why it is only crash-consistent.
    public var consistencyNote: String?
    /// The VM's configuration at the checkpoint (libvirt domain XML), to recreate the VM.
    public var vmConfiguration: VMConfiguration?

    public init(backupId: String, backupType: BackupType, parentId: String?, vm: VM, createdAt: Date, completedAt: Date, disks: [Disk]) {
        self.backupId = backupId
        self.backupType = backupType
        self.parentId = parentId
        self.vm = vm
        // Whole seconds: the file keeps ISO 8601 without fractions, and a
        // manifest must read back equal to the one written.
        self.createdAt = Date(timeIntervalSince1970: createdAt.timeIntervalSince1970.rounded(.down))
        self.completedAt = Date(timeIntervalSince1970: completedAt.timeIntervalSince1970.rounded(.down))
        self.disks = disks
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    public func encoded() throws -> Data { try Self.encoder.encode(self) }

    /// The largest manifest read: one run per extent of a very fragmented
    /// multi-terabyte disk stays far below it; a file beyond it is damage.
    static let maxFileBytes = 512 << 20

    /// Reads and checks the manifest of the backup folder `directory`. A
    /// repository may have been tampered with or damaged: every value that
    /// later becomes a path, a catalog row or arithmetic is checked here, and
    /// anything wrong is `RepositoryError.invalidManifest`.
    public static func read(from directory: String) throws -> BackupManifest {
        let path = directory + "/" + fileName
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size, size <= maxFileBytes, let data = FileManager.default.contents(atPath: path) else {
            throw RepositoryError.io("cannot read \(path)" + ((size ?? 0) > maxFileBytes ? ": larger than \(maxFileBytes >> 20) MiB" : ""))
        }
        let manifest: BackupManifest
        do {
            manifest = try decoder.decode(BackupManifest.self, from: data)
        } catch {
            throw RepositoryError.invalidManifest(path: path, reason: "not a manifest: \(error)")
        }
        if let problem = manifest.problem(inFolder: URL(fileURLWithPath: directory).lastPathComponent) {
            throw RepositoryError.invalidManifest(path: path, reason: problem)
        }
        return manifest
    }

    private static func isLowercaseHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// What makes this manifest unusable from the folder `folder`, or nil.
    func problem(inFolder folder: String) -> String? {
        guard (1...Self.currentFormatVersion).contains(formatVersion) else { return "format_version \(formatVersion) is not one this hub reads" }
        guard BackupLayout.isPlainName(backupId), folder == backupId || folder == backupId + BackupLayout.partialSuffix else {
            return "backup_id \(backupId) does not name its folder \(folder)"
        }
        if let parentId, !BackupLayout.isPlainName(parentId) || parentId == backupId { return "parent_id \(parentId) is not another backup" }
        // Not NameRules: names the hub took before those rules must still read. The VM's folder name comes from vmKey(for:).
        if vm.name.isEmpty || vm.name.utf8.contains(0) { return "vm.name is empty or holds a NUL byte" }
        var indexes = Set<Int>()
        var total: UInt64 = 0
        for disk in disks {
            guard (0...BackupLayout.maxDiskIndex).contains(disk.index), indexes.insert(disk.index).inserted else {
                return "disk index \(disk.index) is out of range or repeated"
            }
            guard disk.file == BackupLayout.diskFileName(index: disk.index) else { return "disk \(disk.index) names file \(disk.file)" }
            if let backing = disk.backingFile, !BackupLayout.isBackingFileName(backing, diskIndex: disk.index) {
                return "disk \(disk.index) names backing file \(backing)"
            }
            let sum = total.addingReportingOverflow(disk.bytesWritten)
            guard disk.capacityBytes <= UInt64(Int64.max), !sum.overflow, sum.partialValue <= UInt64(Int64.max) else {
                return "disk \(disk.index): sizes beyond 2^63"
            }
            total = sum.partialValue
            for run in disk.runs {
                guard run.offset <= disk.capacityBytes, run.length <= disk.capacityBytes - run.offset else {
                    return "disk \(disk.index): run at \(run.offset) of \(run.length) bytes is past its capacity \(disk.capacityBytes)"
                }
                if let hash = run.sha256, hash.utf8.count != 64 || !hash.utf8.allSatisfy(Self.isLowercaseHexDigit) {
                    return "disk \(disk.index): run at \(run.offset) has no SHA-256 but \(hash)"
                }
            }
        }
        return nil
    }
}
