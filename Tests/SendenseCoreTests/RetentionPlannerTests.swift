import Foundation
import SendenseCore
import Testing

/// Table-driven: restore points by date, the policy, what stays.
@Suite struct RetentionPlannerTests {
    static func points(_ times: [String]) -> [RetentionPlanner.Point] {
        times.map { .init(id: $0, time: try! Date($0, strategy: .iso8601)) }
    }

    /// One backup a day at 02:00 for 60 days, ending 2025-03-01 (a Saturday).
    static let daily: [String] = (0..<60).map { day in
        let date = Date(timeIntervalSince1970: 1_740_794_400 - Double(day) * 86400)  // 2025-03-01T02:00:00Z
        return date.formatted(.iso8601)
    }

    @Test func keepLast() {
        let decision = RetentionPlanner.plan(Self.points(Self.daily), policy: .init(keepLast: 3))
        #expect(decision.keep == Array(Self.daily.prefix(3)))
        #expect(decision.remove.count == 57)
    }

    @Test func nothingConfiguredKeepsAll() {
        #expect(RetentionPlanner.plan(Self.points(Self.daily), policy: .init()).remove.isEmpty)
        #expect(RetentionPlanner.plan(Self.points(Self.daily), policy: .init(keepLast: 0)).remove.isEmpty)
    }

    @Test func dailyKeepsTheNewestOfEachDay() {
        let times = ["2025-03-01T22:00:00Z", "2025-03-01T10:00:00Z", "2025-02-28T23:00:00Z", "2025-02-28T01:00:00Z", "2025-02-26T12:00:00Z"]
        let decision = RetentionPlanner.plan(Self.points(times), policy: .init(keepDaily: 2))
        #expect(decision.keep == ["2025-03-01T22:00:00Z", "2025-02-28T23:00:00Z"])
        #expect(decision.reasons["2025-03-01T22:00:00Z"] == "daily")
    }

    /// keep_last 1 already covers today: keep_daily 2 takes the two days before.
    @Test func periodsCoveredByEarlierRulesDoNotCount() {
        let times = ["2025-03-01T22:00:00Z", "2025-03-01T10:00:00Z", "2025-02-28T23:00:00Z", "2025-02-27T23:00:00Z", "2025-02-26T23:00:00Z"]
        let decision = RetentionPlanner.plan(Self.points(times), policy: .init(keepLast: 1, keepDaily: 2))
        #expect(decision.keep == ["2025-03-01T22:00:00Z", "2025-02-28T23:00:00Z", "2025-02-27T23:00:00Z"])
    }

    @Test func dailyWeeklyMonthly() {
        let decision = RetentionPlanner.plan(Self.points(Self.daily), policy: .init(keepDaily: 7, keepWeekly: 4, keepMonthly: 3))
        // The 7 newest days (23 Feb - 1 Mar, covering ISO weeks 8 and 9), then the newest point of the 4 weeks
        // before (Sundays 16, 9, 2 Feb and 26 Jan); March, February and January are then represented already,
        // and the points go back only to 1 January: monthly adds nothing.
        let expectedDaily = Array(Self.daily.prefix(7))
        let expectedWeekly = ["2025-02-16T02:00:00Z", "2025-02-09T02:00:00Z", "2025-02-02T02:00:00Z", "2025-01-26T02:00:00Z"]
        #expect(decision.keep == expectedDaily + expectedWeekly)
        #expect(decision.reasons["2025-02-16T02:00:00Z"] == "weekly")
        #expect(decision.keep.count + decision.remove.count == 60)
    }

    @Test func monthlyInALocalTimeZone() {
        // 23:30 UTC on 31 January is already February in Berlin.
        let times = ["2025-02-15T12:00:00Z", "2025-01-31T23:30:00Z", "2025-01-20T12:00:00Z"]
        let utc = RetentionPlanner.plan(Self.points(times), policy: .init(keepMonthly: 2))
        #expect(utc.keep == ["2025-02-15T12:00:00Z", "2025-01-31T23:30:00Z"])
        let berlin = RetentionPlanner.plan(Self.points(times), policy: .init(keepMonthly: 2), timeZone: TimeZone(identifier: "Europe/Berlin")!)
        #expect(berlin.keep == ["2025-02-15T12:00:00Z", "2025-01-20T12:00:00Z"])
    }

    @Test func yearly() {
        let times = ["2025-06-01T00:00:00Z", "2024-12-31T00:00:00Z", "2024-01-01T00:00:00Z", "2023-05-05T00:00:00Z", "2022-01-01T00:00:00Z"]
        let decision = RetentionPlanner.plan(Self.points(times), policy: .init(keepYearly: 3))
        #expect(decision.keep == ["2025-06-01T00:00:00Z", "2024-12-31T00:00:00Z", "2023-05-05T00:00:00Z"])
        #expect(decision.remove == ["2024-01-01T00:00:00Z", "2022-01-01T00:00:00Z"])
    }

    @Test func fewerPointsThanAsked() {
        let decision = RetentionPlanner.plan(Self.points(["2025-01-01T00:00:00Z"]), policy: .init(keepLast: 5, keepDaily: 5))
        #expect(decision.keep == ["2025-01-01T00:00:00Z"] && decision.remove.isEmpty)
    }

    @Test func invalidCounts() {
        #expect(RetentionPolicy(keepLast: -1).problem != nil)
        #expect(RetentionPolicy(keepDaily: 7).problem == nil)
    }
}
