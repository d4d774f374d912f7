import Foundation

/// The API's one timestamp form: ISO 8601 in UTC with whole seconds,
/// `2025-10-08T19:24:31Z`.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(timeZone: .gmt)

    /// Same text as `Date.ISO8601FormatStyle` (seconds rounded down), written
    /// by hand for 1970 to 9999: the format style was 3 % of the CPU a list
    /// of a thousand items took, and lists carry two or three dates an item.
    public static func format(_ date: Date) -> String {
        let reference = date.timeIntervalSinceReferenceDate.rounded(.down)
        // 1970-01-01 and 10000-01-01 as seconds since 2001-01-01.
        guard reference >= -978_307_200, reference < 252_423_993_600 else { return date.formatted(style) }
        let seconds = Int(reference) + 978_307_200
        let (year, month, day) = civilDate(daysSince1970: seconds / 86_400)
        let time = seconds % 86_400
        return String(unsafeUninitializedCapacity: 20) { text in
            func put(_ value: Int, at offset: Int, digits: Int) {
                var value = value
                for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                    text[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(year, at: 0, digits: 4)
            put(month, at: 5, digits: 2)
            put(day, at: 8, digits: 2)
            put(time / 3600, at: 11, digits: 2)
            put(time / 60 % 60, at: 14, digits: 2)
            put(time % 60, at: 17, digits: 2)
            for (offset, character) in [(4, "-"), (7, "-"), (10, "T"), (13, ":"), (16, ":"), (19, "Z")] as [(Int, Unicode.Scalar)] {
                text[offset] = UInt8(ascii: character)
            }
            return 20
        }
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01 (0 or
    /// more), by 400-year eras that start on 1 March, so the leap day ends a year.
    static func civilDate(daysSince1970 days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468  // days from 0000-03-01 to 1970-01-01
        let era = shifted / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Accepts the API's form, with or without fractional seconds.
    public static func parse(_ text: String) -> Date? {
        if let date = try? style.parse(text) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt).parse(text)
    }
}
