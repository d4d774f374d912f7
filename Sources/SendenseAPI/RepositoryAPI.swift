import Foundation
import SendenseCore

/// `POST /repositories`.
public struct NewRepositoryRequest: Codable, Sendable {
    public var name: String
    public var type: RepositoryKind
    public var path: String?
    public var nfsServer: String?
    public var nfsExport: String?
    public var cifsShare: String?
    public var username: String?
    public var password: String?
    public var mountOptions: String?
    public var immutable: Bool?
    /// Restore points younger than this cannot be deleted or merged (409 says until when).
    public var immutableDays: Int?

    public init(name: String, type: RepositoryKind, path: String? = nil, nfsServer: String? = nil, nfsExport: String? = nil,
                cifsShare: String? = nil, username: String? = nil, password: String? = nil, mountOptions: String? = nil,
                immutable: Bool? = nil, immutableDays: Int? = nil) {
        self.name = name
        self.type = type
        self.path = path
        self.nfsServer = nfsServer
        self.nfsExport = nfsExport
        self.cifsShare = cifsShare
        self.username = username
        self.password = password
        self.mountOptions = mountOptions
        self.immutable = immutable
        self.immutableDays = immutableDays
    }

    enum CodingKeys: String, CodingKey {
        case name, type, path, username, password, immutable
        case immutableDays = "immutable_days", nfsServer = "nfs_server", nfsExport = "nfs_export", cifsShare = "cifs_share"
        case mountOptions = "mount_options"
    }
}

/// A repository with its state and capacity, read when asked.
public struct RepositoryResponse: Codable, Sendable {
    public var id: String
    public var name: String
    public var type: RepositoryKind
    public var path: String
    public var enabled: Bool
    public var immutable: Bool
    public var immutableDays: Int?
    /// `online` or `offline`.
    public var status: String
    public var statusMessage: String?
    public var totalBytes: Int64
    public var usedBytes: Int64
    public var availableBytes: Int64
    public var backupCount: Int
    public var repositoryUuid: String
    public var nfsServer: String?
    public var nfsExport: String?
    public var cifsShare: String?
    public var username: String?
    public var mountOptions: String?
    public var createdAt: Date
    public var checkedAt: Date

    public init(id: String, name: String, type: RepositoryKind, path: String, enabled: Bool, immutable: Bool, immutableDays: Int?,
                status: String, statusMessage: String?, totalBytes: Int64, usedBytes: Int64, availableBytes: Int64, backupCount: Int,
                repositoryUuid: String, nfsServer: String?, nfsExport: String?, cifsShare: String?, username: String?,
                mountOptions: String?, createdAt: Date, checkedAt: Date) {
        self.id = id
        self.name = name
        self.type = type
        self.path = path
        self.enabled = enabled
        self.immutable = immutable
        self.immutableDays = immutableDays
        self.status = status
        self.statusMessage = statusMessage
        self.totalBytes = totalBytes
        self.usedBytes = usedBytes
        self.availableBytes = availableBytes
        self.backupCount = backupCount
        self.repositoryUuid = repositoryUuid
        self.nfsServer = nfsServer
        self.nfsExport = nfsExport
        self.cifsShare = cifsShare
        self.username = username
        self.mountOptions = mountOptions
        self.createdAt = createdAt
        self.checkedAt = checkedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, type, path, enabled, immutable, immutableDays = "immutable_days", status, statusMessage = "status_message"
        case totalBytes = "total_bytes", usedBytes = "used_bytes", availableBytes = "available_bytes", backupCount = "backup_count"
        case repositoryUuid = "repository_uuid", nfsServer = "nfs_server", nfsExport = "nfs_export", cifsShare = "cifs_share"
        case username, mountOptions = "mount_options", createdAt = "created_at", checkedAt = "checked_at"
    }
}

public struct RepositoryListResponse: Codable, Sendable {
    public var repositories: [RepositoryResponse]
    public var count: Int

    public init(repositories: [RepositoryResponse], count: Int) {
        self.repositories = repositories
        self.count = count
    }
}
