import Foundation

/// `POST /restore/mount`: open a restore point's disk for browsing.
public struct MountRequest: Codable, Sendable {
    public var backupId: String
    public var diskIndex: Int

    public init(backupId: String, diskIndex: Int) {
        self.backupId = backupId
        self.diskIndex = diskIndex
    }

    enum CodingKeys: String, CodingKey {
        case backupId = "backup_id", diskIndex = "disk_index"
    }
}

/// A restore session: the disk's partitions, each a folder to browse.
public struct MountResponse: Codable, Sendable {
    public struct Partition: Codable, Sendable {
        public var index: Int
        public var name: String
        public var filesystemType: String
        public var sizeBytes: UInt64
        public var offsetBytes: UInt64
        public var label: String?
        /// Why it cannot be browsed, when it cannot.
        public var reason: String?

        public init(index: Int, name: String, filesystemType: String, sizeBytes: UInt64, offsetBytes: UInt64, label: String?,
                    reason: String?) {
            self.index = index
            self.name = name
            self.filesystemType = filesystemType
            self.sizeBytes = sizeBytes
            self.offsetBytes = offsetBytes
            self.label = label
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey {
            case index, name, filesystemType = "filesystem_type", sizeBytes = "size_bytes", offsetBytes = "offset_bytes", label, reason
        }
    }

    public var mountId: String
    public var backupId: String
    public var backupDiskId: Int64
    public var diskIndex: Int
    public var filesystemType: String
    /// `mounted`.
    public var status: String
    public var partitions: [Partition]
    public var createdAt: Date
    public var lastUsedAt: Date
    public var expiresAt: Date

    public init(mountId: String, backupId: String, backupDiskId: Int64, diskIndex: Int, filesystemType: String, partitions: [Partition],
                createdAt: Date, lastUsedAt: Date, expiresAt: Date) {
        self.mountId = mountId
        self.backupId = backupId
        self.backupDiskId = backupDiskId
        self.diskIndex = diskIndex
        self.filesystemType = filesystemType
        self.status = "mounted"
        self.partitions = partitions
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case mountId = "mount_id", backupId = "backup_id", backupDiskId = "backup_disk_id", diskIndex = "disk_index"
        case filesystemType = "filesystem_type", status, partitions, createdAt = "created_at", lastUsedAt = "last_used_at"
        case expiresAt = "expires_at"
    }
}

public struct MountListResponse: Codable, Sendable {
    public var mounts: [MountResponse]
    public var count: Int

    public init(mounts: [MountResponse], count: Int) {
        self.mounts = mounts
        self.count = count
    }
}

/// `GET /restore/{mount_id}/files`: one page of a folder.
public struct FileListResponse: Codable, Sendable {
    public struct File: Codable, Sendable {
        public var name: String
        public var path: String
        /// `file`, `directory`, or what else the filesystem says.
        public var type: String
        public var size: UInt64
        public var mode: UInt32
        public var modifiedTime: Date?
        public var isSymlink: Bool
        public var linkTarget: String?

        public init(name: String, path: String, type: String, size: UInt64, mode: UInt32, modifiedTime: Date?, isSymlink: Bool,
                    linkTarget: String?) {
            self.name = name
            self.path = path
            self.type = type
            self.size = size
            self.mode = mode
            self.modifiedTime = modifiedTime
            self.isSymlink = isSymlink
            self.linkTarget = linkTarget
        }

        enum CodingKeys: String, CodingKey {
            case name, path, type, size, mode, modifiedTime = "modified_time", isSymlink = "is_symlink", linkTarget = "link_target"
        }
    }

    public var mountId: String
    public var path: String
    public var files: [File]
    public var totalCount: Int
    public var limit: Int
    public var offset: Int

    public init(mountId: String, path: String, files: [File], totalCount: Int, limit: Int, offset: Int) {
        self.mountId = mountId
        self.path = path
        self.files = files
        self.totalCount = totalCount
        self.limit = limit
        self.offset = offset
    }

    enum CodingKeys: String, CodingKey {
        case mountId = "mount_id", path, files, totalCount = "total_count", limit, offset
    }
}

public struct KeepaliveResponse: Codable, Sendable {
    public var mountId: String
    public var expiresAt: Date

    public init(mountId: String, expiresAt: Date) {
        self.mountId = mountId
        self.expiresAt = expiresAt
    }

    enum CodingKeys: String, CodingKey {
        case mountId = "mount_id", expiresAt = "expires_at"
    }
}

public struct UnmountResponse: Codable, Sendable {
    public var message: String
    public var mountId: String

    public init(message: String, mountId: String) {
        self.message = message
        self.mountId = mountId
    }

    enum CodingKeys: String, CodingKey {
        case message, mountId = "mount_id"
    }
}
