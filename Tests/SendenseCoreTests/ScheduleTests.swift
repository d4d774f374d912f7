import Foundation
import SendenseCore
import Testing

@Suite struct ScheduleTests {
    static func date(_ text: String) -> Date {
        try! Date(text, strategy: .iso8601)
    }

    @Test(arguments: [
        // expression, zone, after, expected next
        ("0 2 * * *", "UTC", "2025-10-08T01:59:00Z", "2025-10-08T02:00:00Z"),
        ("0 2 * * *", "UTC", "2025-10-08T02:00:00Z", "2025-10-09T02:00:00Z"),
        ("*/15 * * * *", "UTC", "2025-10-08T10:07:30Z", "2025-10-08T10:15:00Z"),
        ("30 23 * * fri", "UTC", "2025-10-08T00:00:00Z", "2025-10-10T23:30:00Z"),
        ("0 0 1 jan,jul *", "UTC", "2025-02-01T00:00:00Z", "2025-07-01T00:00:00Z"),
        ("0 6 * * 1-5", "UTC", "2025-10-10T07:00:00Z", "2025-10-13T06:00:00Z"),
        ("0 12 29 2 *", "UTC", "2025-03-01T00:00:00Z", "2028-02-29T12:00:00Z"),
        // Both day fields restricted: either matches (the 13th, or any Friday).
        ("0 0 13 * 5", "UTC", "2025-10-01T00:00:00Z", "2025-10-03T00:00:00Z"),
        ("0 0 * * 7", "UTC", "2025-10-08T00:00:00Z", "2025-10-12T00:00:00Z"),
        // Local time: 02:00 in Berlin is 00:00 UTC in summer, 01:00 in winter.
        ("0 2 * * *", "Europe/Berlin", "2025-07-01T12:00:00Z", "2025-07-02T00:00:00Z"),
        ("0 2 * * *", "Europe/Berlin", "2025-12-01T12:00:00Z", "2025-12-02T01:00:00Z"),
        // 02:30 does not exist on 30 March 2025 in Berlin: the run comes right after the gap.
        ("30 2 * * *", "Europe/Berlin", "2025-03-29T12:00:00Z", "2025-03-30T01:30:00Z"),
        // 02:30 happens twice on 26 October 2025: once.
        ("30 2 * * *", "Europe/Berlin", "2025-10-25T12:00:00Z", "2025-10-26T00:30:00Z"),
    ])
    func cron(_ expression: String, _ zone: String, _ after: String, _ expected: String) throws {
        let schedule = try Schedule(expression, timeZone: zone)
        #expect(schedule.next(after: Self.date(after)) == Self.date(expected))
    }

    @Test func repeatedLocalTimeRunsOnce() throws {
        let schedule = try Schedule("30 2 * * *", timeZone: "Europe/Berlin")
        let first = try #require(schedule.next(after: Self.date("2025-10-25T12:00:00Z")))
        let second = try #require(schedule.next(after: first))
        #expect(second == Self.date("2025-10-27T01:30:00Z"))
    }

    @Test func intervals() throws {
        #expect(try Schedule("every 4h").next(after: Self.date("2025-10-08T01:00:00Z")) == Self.date("2025-10-08T05:00:00Z"))
        #expect(try Schedule("every 30m").kind == .every(seconds: 1800))
        #expect(try Schedule("every 1 day").kind == .every(seconds: 86400))
        #expect(try Schedule("EVERY 90 min").kind == .every(seconds: 5400))
    }

    @Test(arguments: ["", "0 2 * *", "61 * * * *", "* 24 * * *", "0 0 0 * *", "0 0 * 13 *", "0 0 * * 8", "*/0 * * * *",
                      "5-1 * * * *", "0 0 * * funday", "every", "every 4x", "every 1m", "every 40d", "0,,5 * * * *"])
    func refused(_ text: String) {
        #expect(throws: ScheduleError.self) { try Schedule(text) }
    }

    @Test func unknownZone() {
        #expect(throws: ScheduleError.self) { try Schedule("0 2 * * *", timeZone: "Mars/Olympus") }
    }

    @Test func neverMatching() throws {
        #expect(try Schedule("0 0 31 2 *").next(after: Self.date("2025-01-01T00:00:00Z")) == nil)
    }
}
