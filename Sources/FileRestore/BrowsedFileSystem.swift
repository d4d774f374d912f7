/// A filesystem a restore session browses, whichever library reads it
/// (libtsk: NTFS, ext, FAT, exFAT, HFS+; libfsxfs: XFS). Not thread-safe:
/// the browser that owns it calls it under its lock only.
protocol BrowsedFileSystem: AnyObject {
    /// `ntfs`, `ext4`, `xfs` …
    var type: String { get }
    var label: String? { get }
    var rootInode: UInt64 { get }

    /// A directory's visible entries (unsorted), without `.`, `..` and the
    /// filesystem's own metadata files.
    func list(directory inode: UInt64, volume: Int, displayPath: [String]) throws -> [RestoreEntry]

    /// The visible entry called `name` in a directory, or nil.
    func lookup(_ name: String, in directory: UInt64, volume: Int, parent: [String]) throws -> RestoreEntry?

    /// A regular file, opened for reading.
    func open(_ entry: RestoreEntry) throws -> any OpenedFile
}

/// A file open in a browsed filesystem; closed when released (under the browser's lock).
protocol OpenedFile: AnyObject {
    /// Reads up to `buffer.count` bytes at `offset`; answers how many.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int
}
