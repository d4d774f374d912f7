import CTSK

/// A file inside a restore session, read in pieces (never whole). Keeps its
/// browser, and so the disk, open until it is released. One reader at a
/// time: a download owns its RestoreFile.
public final class RestoreFile: @unchecked Sendable {
    public let entry: RestoreEntry
    private let browser: RestoreBrowser
    private var handle: TSKFileHandle?

    init(browser: RestoreBrowser, entry: RestoreEntry, handle: TSKFileHandle) {
        self.browser = browser
        self.entry = entry
        self.handle = handle
    }

    deinit {
        guard let handle else { return }
        browser.withState { _ in tsk_fs_file_close(handle.pointer) }
    }

    public var size: UInt64 { entry.size }

    /// Fills `buffer` from `offset`; answers how many bytes were read (less
    /// only at the end of the file).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < size, let handle, let base = buffer.baseAddress else { return 0 }
        let count = Int(min(UInt64(buffer.count), size - offset))
        return try browser.withState { state in
            tsk_error_reset()
            let n = tsk_fs_file_read(handle.pointer, TSK_OFF_T(offset), base.assumingMemoryBound(to: CChar.self), count,
                                     TSK_FS_FILE_READ_FLAG_NONE)
            guard n == count else {
                throw FileRestoreError.unreadable(path: entry.path, reason: n < 0 ? state.image.takeError()
                    : "libtsk read \(n) of \(count) bytes at offset \(offset)")
            }
            return n
        }
    }
}
