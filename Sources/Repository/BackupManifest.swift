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

    public static func read(from directory: String) throws -> BackupManifest {
        let path = directory + "/" + fileName
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RepositoryError.io("cannot read \(path)")
        }
        return try decoder.decode(BackupManifest.self, from: data)
    }
}
