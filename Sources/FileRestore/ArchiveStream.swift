import CArchive
import Foundation

/// The archive formats a folder downloads as.
public enum ArchiveFormat: String, Sendable, Codable, CaseIterable {
    case zip
    case tarGz = "tar.gz"
}

/// A zip or tar.gz written by libarchive into memory a piece at a time, so
/// an archive of any size streams with bounded memory: the caller adds
/// entries and data, then takes what libarchive produced and sends it.
final class ArchiveStream {
    private let archive: OpaquePointer
    private let sink: Sink
    private var closed = false

    /// Collects what libarchive writes until the caller takes it.
    final class Sink {
        var bytes: [UInt8] = []
    }

    init(format: ArchiveFormat) throws {
        let sink = Sink()
        archive = try UTF8Locale.run { try Self.makeWriter(format: format, sink: sink) }
        self.sink = sink
    }

    private static func makeWriter(format: ArchiveFormat, sink: Sink) throws -> OpaquePointer {
        guard let archive = archive_write_new() else { throw ArchiveError.failed("cannot create an archive writer") }
        func check(_ status: Int32, _ what: String) throws {
            guard status >= ARCHIVE_WARN else {
                let message = archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
                archive_write_free(archive)
                throw ArchiveError.failed("\(what): \(message)")
            }
        }
        switch format {
        case .zip:
            try check(archive_write_set_format_zip(archive), "zip format")
            // Names are UTF-8 whatever the hub's locale is.
            try check(archive_write_set_option(archive, "zip", "hdrcharset", "UTF-8"), "zip name charset")
        case .tarGz:
            try check(archive_write_set_format_pax_restricted(archive), "tar format")
            try check(archive_write_add_filter_gzip(archive), "gzip filter")
        }
        // Hand every byte over at once: no block padding, nothing held back.
        archive_write_set_bytes_per_block(archive, 0)
        let context = Unmanaged.passUnretained(sink).toOpaque()
        try check(archive_write_open2(archive, context, nil, archiveWrite, nil, nil), "open")
        return archive
    }

    deinit { archive_write_free(archive) }

    func addDirectory(_ path: String, mode: UInt32, modified: Date?) throws {
        try writeHeader(path: path + "/", type: 0o040000, mode: mode == 0 ? 0o755 : mode, size: 0, modified: modified)
    }

    func addSymlink(_ path: String, target: String, modified: Date?) throws {
        try writeHeader(path: path, type: 0o120000, mode: 0o777, size: 0, modified: modified, link: target)
    }

    func beginFile(_ path: String, size: UInt64, mode: UInt32, modified: Date?) throws {
        try writeHeader(path: path, type: 0o100000, mode: mode == 0 ? 0o644 : mode, size: size, modified: modified)
    }

    func write(_ data: UnsafeRawBufferPointer) throws {
        guard let base = data.baseAddress, data.count > 0 else { return }
        let n = archive_write_data(archive, base, data.count)
        guard n == data.count else { throw ArchiveError.failed("writing data: \(message)") }
    }

    /// Writes the archive's trailer (zip central directory, tar end blocks).
    func finish() throws {
        guard !closed else { return }
        closed = true
        try check(archive_write_close(archive), "close")
    }

    /// What libarchive produced since the last call.
    func takeOutput() -> [UInt8] {
        defer { sink.bytes.removeAll(keepingCapacity: true) }
        return sink.bytes
    }

    private func writeHeader(path: String, type: UInt32, mode: UInt32, size: UInt64, modified: Date?, link: String? = nil) throws {
        guard let entry = archive_entry_new() else { throw ArchiveError.failed("out of memory") }
        defer { archive_entry_free(entry) }
        if UTF8Locale.isAvailable {
            archive_entry_set_pathname_utf8(entry, path)
            if let link { archive_entry_set_symlink_utf8(entry, link) }
        } else {
            // No UTF-8 locale: the name's bytes as they are (the tar writer
            // then marks such entries hdrcharset=BINARY), never a NULL name.
            archive_entry_set_pathname(entry, path)
            if let link { archive_entry_set_symlink(entry, link) }
        }
        archive_entry_set_filetype(entry, type)
        archive_entry_set_perm(entry, mode & 0o7777)
        archive_entry_set_size(entry, la_int64_t(size))
        if let modified {
            let seconds = modified.timeIntervalSince1970.rounded(.down)
            archive_entry_set_mtime(entry, time_t(seconds), Int((modified.timeIntervalSince1970 - seconds) * 1e9))
        }
        try UTF8Locale.run { try check(archive_write_header(archive, entry), "adding \(path)") }
    }

    private var message: String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }

    private func check(_ status: Int32, _ what: String) throws {
        // ARCHIVE_WARN still wrote the entry; anything lower did not.
        guard status >= ARCHIVE_WARN else { throw ArchiveError.failed("\(what): \(message)") }
    }
}

/// libarchive converts names through the calling thread's locale, and in
/// the C locale a process starts in no non-ASCII name converts: the tar
/// writer then read a NULL name and crashed (SIGSEGV in strlen). Its calls
/// run with C.UTF-8 as their thread's locale instead, which leaves the rest
/// of the process alone. glibc loads that locale from /usr/lib/locale: a
/// worker loads it (`prepare`) before its sandbox forbids opening files.
enum UTF8Locale {
    nonisolated(unsafe) private static let locale = newlocale(Int32(1 << LC_CTYPE), "C.UTF-8", nil)

    /// Whether names can be handed over as UTF-8 (else as raw bytes).
    static var isAvailable: Bool { locale != nil }

    static func prepare() { _ = isAvailable }

    static func run<T>(_ body: () throws -> T) rethrows -> T {
        guard let locale else { return try body() }
        let previous = uselocale(locale)
        defer { uselocale(previous) }
        return try body()
    }
}

enum ArchiveError: Error, CustomStringConvertible {
    case failed(String)
    var description: String {
        switch self { case .failed(let message): "archive: \(message)" }
    }
}

private func archiveWrite(_ archive: OpaquePointer?, _ context: UnsafeMutableRawPointer?,
                          _ buffer: UnsafeRawPointer?, _ length: Int) -> la_ssize_t {
    guard let context, let buffer else { return -1 }
    let sink = Unmanaged<ArchiveStream.Sink>.fromOpaque(context).takeUnretainedValue()
    sink.bytes.append(contentsOf: UnsafeRawBufferPointer(start: buffer, count: length))
    return la_ssize_t(length)
}
