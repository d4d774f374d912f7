/// A file inside a restore session, read in pieces (never whole). Keeps its
/// browser, and so the disk, open until it is released. One reader at a
/// time: a download owns its RestoreFile.
public final class RestoreFile: @unchecked Sendable {
    public let entry: RestoreEntry
    private let browser: RestoreBrowser
    private var opened: (any OpenedFile)?

    init(browser: RestoreBrowser, entry: RestoreEntry, opened: any OpenedFile) {
        self.browser = browser
        self.entry = entry
        self.opened = opened
    }

    deinit {
        // Closed under the browser's lock, like every call into the libraries.
        browser.withState { _ in opened = nil }
    }

    public var size: UInt64 { entry.size }

    /// Fills `buffer` from `offset`; answers how many bytes were read (less
    /// only at the end of the file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < size, let opened, buffer.count > 0 else { return 0 }
        let count = Int(min(UInt64(buffer.count), size - offset))
        return try browser.withState { _ in
            var done = 0
            while done < count {
                let n = try opened.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<count]), at: offset + UInt64(done))
                guard n > 0 else {
                    throw FileRestoreError.unreadable(path: entry.path, reason: "the file ends at \(offset + UInt64(done)), before its size \(size)")
                }
                done += n
            }
            return done
        }
    }
}
