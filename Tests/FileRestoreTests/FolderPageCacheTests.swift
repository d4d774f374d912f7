@testable import FileRestore
import Testing

/// The hub's memory of folder pages a session listed: answers the same page
/// again, and holds a bounded number of entries whatever it is asked.
@Suite("Folder page cache")
struct FolderPageCacheTests {
    static func page(_ path: String, entries count: Int) -> FolderPage {
        let entries = (0..<count).map { index in
            RestoreEntry(name: "f\(index)", path: "\(path)/f\(index)", kind: .file, size: 1, mode: 0o644, modified: nil,
                         linkTarget: nil, volume: 0, inode: UInt64(index))
        }
        return FolderPage(path: path, entries: entries, total: count)
    }

    @Test("a page comes back as stored; the oldest go first beyond the bound, empty pages count too")
    func boundedByEntries() {
        var cache = FolderPageCache()
        let key = { (path: String, offset: Int) in FolderPageCache.Key(path: path, offset: offset, limit: 100) }
        cache[key("/a", 0)] = Self.page("/a", entries: 100)
        #expect(cache[key("/a", 0)]?.entries.count == 100)
        #expect(cache[key("/a", 100)] == nil)
        #expect(cache[FolderPageCache.Key(path: "/a", offset: 0, limit: 50)] == nil)

        // Fill past the bound: the first page goes, the newest stay.
        let pages = FolderPageCache.maxEntries / 100
        for index in 1...pages { cache[key("/b\(index)", 0)] = Self.page("/b\(index)", entries: 100) }
        #expect(cache[key("/a", 0)] == nil)
        #expect(cache[key("/b\(pages)", 0)] != nil)

        // Offsets past a folder's end are empty pages: still bounded in number.
        for offset in 0..<(FolderPageCache.maxEntries * 2) { cache[key("/c", offset)] = Self.page("/c", entries: 0) }
        #expect(cache[key("/c", 0)] == nil)
        #expect(cache[key("/c", FolderPageCache.maxEntries * 2 - 1)] != nil)
        #expect(cache[key("/b\(pages)", 0)] == nil)

        // A page larger than the whole bound is not kept.
        cache[key("/huge", 0)] = Self.page("/huge", entries: FolderPageCache.maxEntries + 1)
        #expect(cache[key("/huge", 0)] == nil)
    }
}
