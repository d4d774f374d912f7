import Foundation

/// One name in a restore session's tree, as the API lists it.
public struct RestoreEntry: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case file, directory, symlink, other
    }

    public var name: String
    /// The display path: `/Partition 2 (1.0 GB)/etc/hosts`, or `/etc/hosts`
    /// on a disk that holds a single filesystem.
    public var path: String
    public var kind: Kind
    public var size: UInt64
    /// Unix permission bits (`0o644`); filesystems without them report what
    /// libtsk derives (FAT: read-only flag, NTFS: 0o777 style defaults).
    public var mode: UInt32
    public var modified: Date?
    public var linkTarget: String?

    /// Where the entry lives: which volume and which metadata address.
    let volume: Int
    let inode: UInt64

    public var isDirectory: Bool { kind == .directory }
}

extension [RestoreEntry] {
    /// Folders first, then by name the way a person reads it
    /// (case-insensitive, numbers in numeric order).
    func sortedForDisplay() -> [RestoreEntry] {
        sorted { a, b in
            if a.isDirectory != b.isDirectory { return a.isDirectory }
            let order = a.name.localizedStandardCompare(b.name)
            return order == .orderedSame ? a.name < b.name : order == .orderedAscending
        }
    }
}
