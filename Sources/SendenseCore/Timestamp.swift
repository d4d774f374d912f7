import Foundation

/// The API's one timestamp form: ISO 8601 in UTC with whole seconds,
/// `2025-10-08T19:24:31Z`.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(timeZone: .gmt)

    public static func format(_ date: Date) -> String {
        date.formatted(style)
    }

    /// Accepts the API's form, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt).parse(text)
    }
}
