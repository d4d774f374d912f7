import Foundation
import HTTPTypes

/// Headers of a file download: type by extension, an RFC 6266 disposition
/// that survives any name, and single byte ranges (RFC 9110) for resuming.
enum FileDownload {
    /// A `Range: bytes=…` header read against a file of `size` bytes.
    enum RangeRequest: Equatable {
        /// No usable range: send the whole file (also for multi-range asks).
        case whole
        case partial(ClosedRange<UInt64>)
        case unsatisfiable
    }

    static func range(_ header: String?, size: UInt64) -> RangeRequest {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header.hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // "bytes=-N": the last N bytes.
            guard let suffix = UInt64(last) else { return .whole }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial((size - min(suffix, size))...(size - 1))
        }
        guard let start = UInt64(first) else { return .whole }
        guard start < size else { return .unsatisfiable }
        if last.isEmpty { return .partial(start...(size - 1)) }
        guard let end = UInt64(last), end >= start else { return .whole }
        return .partial(start...min(end, size - 1))
    }

    /// `attachment; filename="plain fallback"; filename*=UTF-8''percent%20encoded`
    static func disposition(filename: String) -> String {
        let fallback = String(filename.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && scalar.value >= 0x20 && scalar != "\"" && scalar != "\\" && scalar.value != 0x7f
                ? Character(scalar) : "_"
        })
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$&+-.^_`|~")
        let encoded = filename.addingPercentEncoding(withAllowedCharacters: allowed) ?? fallback
        return "attachment; filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }

    /// `Sun, 01 Jun 2025 12:00:00 GMT` (RFC 9110 IMF-fixdate), for Last-Modified.
    static func httpDate(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: date)
    }

    static func contentType(forName name: String) -> String {
        let ext = name.split(separator: ".").count > 1 ? name.split(separator: ".").last.map { $0.lowercased() } ?? "" : ""
        return types[ext] ?? "application/octet-stream"
    }

    private static let types: [String: String] = [
        "txt": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "csv": "text/csv; charset=utf-8", "ini": "text/plain; charset=utf-8", "conf": "text/plain; charset=utf-8",
        "html": "text/html; charset=utf-8", "htm": "text/html; charset=utf-8", "css": "text/css; charset=utf-8",
        "js": "text/javascript; charset=utf-8", "json": "application/json", "xml": "application/xml",
        "pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
        "svg": "image/svg+xml", "webp": "image/webp", "bmp": "image/bmp", "ico": "image/vnd.microsoft.icon",
        "zip": "application/zip", "gz": "application/gzip", "tgz": "application/gzip", "tar": "application/x-tar",
        "7z": "application/x-7z-compressed", "mp3": "audio/mpeg", "wav": "audio/wav", "mp4": "video/mp4",
        "doc": "application/msword", "xls": "application/vnd.ms-excel", "ppt": "application/vnd.ms-powerpoint",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "sql": "application/sql", "sh": "text/x-shellscript; charset=utf-8",
    ]
}
