import Foundation

/// When a protection flow runs: a 5-field cron expression read in a time
/// zone (`0 2 * * *` is 02:00 there, through DST changes), or a fixed
/// interval (`every 4h`, `every 30m`, `every 1d`).
public struct Schedule: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case cron(CronExpression)
        case every(seconds: Int)
    }

    public let kind: Kind
    public let timeZone: TimeZone
    public let text: String

    public var description: String { text }

    /// Parses `text`; throws with what is wrong, in words for the API's 400.
    public init(_ text: String, timeZone identifier: String = "UTC") throws {
        guard let zone = TimeZone(identifier: identifier) else {
            throw ScheduleError("unknown time zone \(identifier) (use an IANA name such as Europe/Berlin)")
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        self.text = trimmed
        self.timeZone = zone
        if trimmed.lowercased().hasPrefix("every") {
            kind = .every(seconds: try Self.interval(String(trimmed.dropFirst(5))))
        } else {
            kind = .cron(try CronExpression(trimmed))
        }
    }

    /// `4h`, `30m`, `1d`, `90 min`: at least 5 minutes, at most 31 days.
    private static func interval(_ text: String) throws -> Int {
        let compact = text.lowercased().filter { !$0.isWhitespace }
        let digits = compact.prefix { $0.isNumber }
        let unit = compact.dropFirst(digits.count)
        let scale: Int? = switch unit {
        case "m", "min", "mins", "minute", "minutes": 60
        case "h", "hour", "hours": 3600
        case "d", "day", "days": 86400
        default: nil
        }
        guard let count = Int(digits), let scale else {
            throw ScheduleError("an interval schedule reads like 'every 4h', 'every 30m' or 'every 1d'")
        }
        let seconds = count * scale
        guard (300...31 * 86400).contains(seconds) else { throw ScheduleError("an interval must be 5 minutes to 31 days") }
        return seconds
    }

    /// The first run strictly after `date`; for an interval, `date` plus the
    /// interval (the scheduler passes the last run). Nil when a cron
    /// expression never matches (31 February).
    public func next(after date: Date) -> Date? {
        switch kind {
        case .every(let seconds): return date.addingTimeInterval(TimeInterval(seconds))
        case .cron(let cron): return cron.next(after: date, in: timeZone)
        }
    }
}

public struct ScheduleError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// minute hour day-of-month month day-of-week, each `*`, a number, a range
/// `a-b`, a step `*/n` or `a-b/n`, or a list of those; months and weekdays
/// also by name (`jan`, `mon`); weekday 0 and 7 are Sunday. As in cron, when
/// both day fields are restricted a day matching either one runs.
public struct CronExpression: Sendable, Equatable {
    public let minutes: Set<Int>
    public let hours: Set<Int>
    public let daysOfMonth: Set<Int>
    public let months: Set<Int>
    public let daysOfWeek: Set<Int>
    let dayOfMonthRestricted: Bool
    let dayOfWeekRestricted: Bool

    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" }).map { String($0).lowercased() }
        guard fields.count == 5 else {
            throw ScheduleError("a cron schedule has 5 fields (minute hour day-of-month month day-of-week), e.g. '0 2 * * *'")
        }
        minutes = try Self.field(fields[0], name: "minute", range: 0...59)
        hours = try Self.field(fields[1], name: "hour", range: 0...23)
        daysOfMonth = try Self.field(fields[2], name: "day-of-month", range: 1...31)
        months = try Self.field(fields[3], name: "month", range: 1...12, names: Self.monthNames, firstName: 1)
        let weekdays = try Self.field(fields[4], name: "day-of-week", range: 0...7, names: Self.dayNames, firstName: 0)
        daysOfWeek = Set(weekdays.map { $0 % 7 })
        dayOfMonthRestricted = fields[2] != "*"
        dayOfWeekRestricted = fields[4] != "*"
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String] = [], firstName: Int = 0) throws -> Set<Int> {
        func value(_ token: Substring) throws -> Int {
            if let number = Int(token), range.contains(number) { return number }
            if let index = names.firstIndex(of: String(token)) { return index + firstName }
            throw ScheduleError("\(name) '\(token)' is not in \(range.lowerBound)-\(range.upperBound)")
        }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2, !pieces[0].isEmpty else { throw ScheduleError("\(name) field '\(text)' is malformed") }
            var step = 1
            if pieces.count == 2 {
                guard let parsed = Int(pieces[1]), parsed > 0 else { throw ScheduleError("\(name) step '\(pieces[1])' must be a positive number") }
                step = parsed
            }
            let bounds: ClosedRange<Int>
            if pieces[0] == "*" {
                bounds = range
            } else if let dash = pieces[0].firstIndex(of: "-") {
                let low = try value(pieces[0][..<dash]), high = try value(pieces[0][pieces[0].index(after: dash)...])
                guard low <= high else { throw ScheduleError("\(name) range '\(pieces[0])' runs backwards") }
                bounds = low...high
            } else {
                let single = try value(pieces[0])
                bounds = single...(pieces.count == 2 ? range.upperBound : single)
            }
            result.formUnion(stride(from: bounds.lowerBound, through: bounds.upperBound, by: step))
        }
        return result
    }

    func matches(day: DateComponents) -> Bool {
        guard let month = day.month, months.contains(month), let dom = day.day, let weekday = day.weekday else { return false }
        let domMatch = daysOfMonth.contains(dom), dowMatch = daysOfWeek.contains(weekday - 1)
        if dayOfMonthRestricted && dayOfWeekRestricted { return domMatch || dowMatch }
        return domMatch && dowMatch
    }

    /// Walks forward day by day (at most 5 years: 29 February on a Monday
    /// recurs within that), then through the day's hours and minutes in
    /// order. A local time skipped by a DST change runs at the first instant
    /// after the gap; a repeated one runs once.
    public func next(after date: Date, in zone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let sortedHours = hours.sorted(), sortedMinutes = minutes.sorted()
        var day = calendar.startOfDay(for: date)
        for _ in 0..<(366 * 5 + 2) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if matches(day: parts) {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        var wanted = DateComponents()
                        wanted.year = parts.year
                        wanted.month = parts.month
                        wanted.day = parts.day
                        wanted.hour = hour
                        wanted.minute = minute
                        if let candidate = calendar.date(from: wanted), candidate > date { return candidate }
                    }
                }
            }
            guard let following = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = calendar.startOfDay(for: following)
        }
        return nil
    }
}
