/// The folder pages a file-restore session listed last, so that browsing back
/// and forth, or several people looking at one folder, does not ask the
/// worker again (it answers one request at a time, each a round trip to its
/// process): a repeated listing of 100 entries went from 3.1 to 2.3 ms p50 at
/// 200 a second (`make bench`, BENCH=api). Bounded by entries held, not
/// pages: the oldest page read goes first.
struct FolderPageCache: Sendable {
    struct Key: Hashable, Sendable {
        var path: String
        var offset: Int
        var limit: Int
    }

    /// About 10 MB of entries at most per session (a listing's entry is a few hundred bytes).
    static let maxEntries = 32_768

    private var pages: [Key: FolderPage] = [:]
    /// Keys oldest first from `head` on (a queue: removing the first of a long array moves all the rest).
    private var order: [Key] = []
    private var head = 0
    private var entries = 0

    subscript(key: Key) -> FolderPage? {
        get { pages[key] }
        set {
            guard let page = newValue, pages[key] == nil, Self.weight(page) <= Self.maxEntries else { return }
            while entries + Self.weight(page) > Self.maxEntries, head < order.count {
                entries -= pages.removeValue(forKey: order[head]).map(Self.weight) ?? 0
                head += 1
            }
            if head > 1024, head * 2 > order.count {
                order.removeFirst(head)
                head = 0
            }
            pages[key] = page
            order.append(key)
            entries += Self.weight(page)
        }
    }

    /// An empty page (an offset past the end) counts as one entry: the number of pages is bounded too.
    private static func weight(_ page: FolderPage) -> Int { max(1, page.entries.count) }
}
