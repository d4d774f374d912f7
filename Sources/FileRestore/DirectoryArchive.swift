import Foundation

/// A folder of a restore session streamed as a zip or tar.gz: the tree is
/// walked lazily and files are read a piece at a time, so each `next()`
/// does a bounded amount of work and memory stays small at any size.
/// Names, modification times and modes are kept; links are stored as links.
/// Used by one task at a time (a download owns it).
public final class DirectoryArchive: @unchecked Sendable {
    /// What a folder holds, for the size check before a download starts.
    public struct Contents: Sendable, Equatable, Codable {
        public var files = 0
        public var directories = 0
        public var bytes: UInt64 = 0
    }

    /// The deepest folder nesting followed; deeper means a damaged filesystem.
    static let maxDepth = 256
    static let pieceSize = 1 << 20

    private let browser: RestoreBrowser
    private let stream: ArchiveStream
    private var pending: [(entry: RestoreEntry, name: String, depth: Int)]
    private var visited: Set<[UInt64]> = []
    private var current: (file: RestoreFile, offset: UInt64)?
    private var buffer = [UInt8](repeating: 0, count: pieceSize)
    private var done = false

    /// An archive of files and folders, each at the top level under the
    /// given name: one folder, or a multi-selection of a folder's entries.
    public init(browser: RestoreBrowser, items: [(entry: RestoreEntry, name: String)], format: ArchiveFormat) throws {
        self.browser = browser
        stream = try ArchiveStream(format: format)
        pending = items.reversed().map { ($0.entry, $0.name, 0) }
    }

    /// Counts what a download of these entries would hold, without reading data.
    public static func contents(of items: [RestoreEntry], in browser: RestoreBrowser) throws -> Contents {
        var contents = Contents()
        var stack = items.map { ($0, 0) }
        var visited: Set<[UInt64]> = []
        while let (entry, depth) = stack.popLast() {
            switch entry.kind {
            case .directory:
                guard enter(entry, depth: depth, visited: &visited) else { continue }
                contents.directories += 1
                stack.append(contentsOf: try browser.list(entry.path).map { ($0, depth + 1) })
            case .file, .other:
                contents.files += 1
                // Sizes come from the guest's filesystem: saturate rather than trap.
                let (sum, overflow) = contents.bytes.addingReportingOverflow(entry.size)
                contents.bytes = overflow ? .max : sum
            case .symlink:
                contents.files += 1
            }
        }
        return contents
    }

    /// Whether to go into a folder: a folder seen before (a damaged
    /// filesystem looping) or nested too deep is skipped. Partition folders
    /// (inode 0) are always entered.
    static func enter(_ entry: RestoreEntry, depth: Int, visited: inout Set<[UInt64]>) -> Bool {
        depth <= maxDepth && (entry.inode == 0 || visited.insert([UInt64(entry.volume), entry.inode]).inserted)
    }

    /// A filesystem name as one component of an archive path. A hostile
    /// filesystem can store `/`, `.` or `..` as (part of) a name; written
    /// as is, they would make the entry land outside its folder when the
    /// archive is extracted, so they become `_`, `_.` and `_..`.
    static func archiveName(_ name: String) -> String {
        if name == "." || name == ".." || name.isEmpty { return "_" + name }
        return name.replacingOccurrences(of: "/", with: "_")
    }

    /// The next piece of the archive; nil once the archive is complete.
    /// A piece may be empty when a step produced no output yet.
    public func next() throws -> [UInt8]? {
        guard !done else { return nil }
        if let (file, start) = current {
            let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0, at: start) }
            guard count > 0 else {
                throw FileRestoreError.unreadable(path: file.entry.path, reason: "the file ends early at \(start)")
            }
            try buffer.withUnsafeBytes { try stream.write(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            let offset = start + UInt64(count)
            current = offset < file.size ? (file, offset) : nil
            return stream.takeOutput()
        }
        guard let (entry, name, depth) = pending.popLast() else {
            try stream.finish()
            done = true
            return stream.takeOutput()
        }
        switch entry.kind {
        case .directory:
            guard Self.enter(entry, depth: depth, visited: &visited) else { break }
            try stream.addDirectory(name, mode: entry.mode, modified: entry.modified)
            let children = try browser.list(entry.path)
            pending.append(contentsOf: children.reversed().map { ($0, name + "/" + Self.archiveName($0.name), depth + 1) })
        case .file, .other:
            try stream.beginFile(name, size: entry.size, mode: entry.mode, modified: entry.modified)
            if entry.size > 0 { current = (try browser.openFile(entry), 0) }
        case .symlink:
            try stream.addSymlink(name, target: entry.linkTarget ?? "", modified: entry.modified)
        }
        return stream.takeOutput()
    }
}
