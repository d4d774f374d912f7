/// What the hub asks a file-restore worker; each request has one answer
/// (a value, data, the end of an archive, or a `FileRestoreError`).
enum WorkerRequest: Codable {
    case list(path: String, offset: Int, limit: Int)
    case entry(path: String)
    case read(entry: RestoreEntry, offset: UInt64, count: Int)
    case contents(entries: [RestoreEntry])
    case openArchive(items: [ArchiveItem], format: ArchiveFormat)
    case archiveNext(id: Int)
    case closeArchive(id: Int)
}

/// An entry of an archive, at the archive's top level under `name`.
public struct ArchiveItem: Codable, Sendable {
    public var entry: RestoreEntry
    public var name: String

    public init(entry: RestoreEntry, name: String) {
        self.entry = entry
        self.name = name
    }
}

/// One page of a folder's entries (folders first, by name), and how many it
/// holds. Sent in a binary form (`FolderPageCoding.swift`).
public struct FolderPage: Sendable {
    /// The folder's display path, normalised (`/a/b`).
    public var path: String
    public var entries: [RestoreEntry]
    public var total: Int
}

/// What a worker found on the disk when it started, and how it is confined.
public struct WorkerOpened: Codable, Sendable, Equatable {
    public var volumes: [RestoreVolume]
    public var partitionsAsFolders: Bool
    public var filesystemType: String
    public var sandbox: SandboxReport
}

/// How a worker process is confined (see `WorkerSandbox`).
public struct SandboxReport: Codable, Sendable, Equatable {
    /// The Landlock ABI that forbids it every file access; 0 when the kernel has none.
    public var landlockABI: Int
    /// In a network namespace of its own (no interface but a down loopback).
    public var networkIsolated: Bool
    public var uid: UInt32
    public var noNewPrivileges: Bool
    public var memoryLimitBytes: UInt64
    /// Threads when the sandbox closed: Landlock binds the calling thread and
    /// those it starts later, so this must be 1.
    public var threads: Int
    /// What could not be applied, and why.
    public var notes: [String]
}
