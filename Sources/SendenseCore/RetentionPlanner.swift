import Foundation

/// How many restore points to keep, as Proxmox Backup Server's prune
/// options: the newest `keepLast`, then the newest point of each of the
/// last N hours / days / weeks / months / years that hold one. Nil or 0
/// options are off; with every option off, everything is kept.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public var keepLast: Int?
    public var keepHourly: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?
    public var keepYearly: Int?

    public init(keepLast: Int? = nil, keepHourly: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil,
                keepMonthly: Int? = nil, keepYearly: Int? = nil) {
        self.keepLast = keepLast
        self.keepHourly = keepHourly
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
        self.keepYearly = keepYearly
    }

    enum CodingKeys: String, CodingKey {
        case keepLast = "keep_last", keepHourly = "keep_hourly", keepDaily = "keep_daily"
        case keepWeekly = "keep_weekly", keepMonthly = "keep_monthly", keepYearly = "keep_yearly"
    }

    public var keepsEverything: Bool {
        [keepLast, keepHourly, keepDaily, keepWeekly, keepMonthly, keepYearly].allSatisfy { ($0 ?? 0) == 0 }
    }

    /// Says what is wrong (a negative count, an absurd one), or nil.
    public var problem: String? {
        let all = [("keep_last", keepLast), ("keep_hourly", keepHourly), ("keep_daily", keepDaily),
                   ("keep_weekly", keepWeekly), ("keep_monthly", keepMonthly), ("keep_yearly", keepYearly)]
        for (name, value) in all {
            if let value, !(0...10_000).contains(value) { return "retention.\(name) must be 0 to 10000" }
        }
        return nil
    }
}

/// Which restore points a policy keeps. Pure: dates in, decisions out.
public enum RetentionPlanner {
    public struct Point: Sendable, Equatable {
        public var id: String
        public var time: Date
        public init(id: String, time: Date) {
            self.id = id
            self.time = time
        }
    }

    public struct Decision: Sendable, Equatable {
        public var keep: [String]
        public var remove: [String]
        /// Why each kept point stays: "last", "daily", … (the first rule that kept it).
        public var reasons: [String: String]
    }

    /// Periods are read in `timeZone` (a "day" is the flow's local day).
    /// Rules apply in PBS order: last, hourly, daily, weekly, monthly,
    /// yearly. Within a rule, points are taken newest first: the newest point
    /// of a period not yet represented is kept until the rule has its count;
    /// the older points of a period it took are dropped from later rules. A
    /// period already represented by a point kept by an earlier rule does
    /// not count again.
    public static func plan(_ points: [Point], policy: RetentionPolicy, timeZone: TimeZone = .gmt) -> Decision {
        let newestFirst = points.sorted { $0.time != $1.time ? $0.time > $1.time : $0.id > $1.id }
        guard !policy.keepsEverything else {
            return Decision(keep: newestFirst.map(\.id), remove: [], reasons: Dictionary(uniqueKeysWithValues: newestFirst.map { ($0.id, "no retention") }))
        }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = timeZone
        var marks: [String: Bool] = [:]   // true: keep, false: remove
        var reasons: [String: String] = [:]

        for point in newestFirst.prefix(max(0, policy.keepLast ?? 0)) {
            marks[point.id] = true
            reasons[point.id] = "last"
        }
        let rules: [(String, Int?, (Date) -> [Int])] = [
            ("hourly", policy.keepHourly, { let c = calendar.dateComponents([.year, .month, .day, .hour], from: $0); return [c.year!, c.month!, c.day!, c.hour!] }),
            ("daily", policy.keepDaily, { let c = calendar.dateComponents([.year, .month, .day], from: $0); return [c.year!, c.month!, c.day!] }),
            ("weekly", policy.keepWeekly, { let c = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: $0); return [c.yearForWeekOfYear!, c.weekOfYear!] }),
            ("monthly", policy.keepMonthly, { let c = calendar.dateComponents([.year, .month], from: $0); return [c.year!, c.month!] }),
            ("yearly", policy.keepYearly, { [calendar.component(.year, from: $0)] }),
        ]
        for (name, count, period) in rules {
            guard let count, count > 0 else { continue }
            let covered = Set(newestFirst.filter { marks[$0.id] == true }.map { period($0.time) })
            var taken = Set<[Int]>()
            for point in newestFirst where marks[point.id] == nil {
                let key = period(point.time)
                if covered.contains(key) { continue }
                if taken.contains(key) {
                    marks[point.id] = false
                } else {
                    guard taken.count < count else { break }
                    taken.insert(key)
                    marks[point.id] = true
                    reasons[point.id] = name
                }
            }
        }
        let keep = newestFirst.filter { marks[$0.id] == true }.map(\.id)
        let remove = newestFirst.filter { marks[$0.id] != true }.map(\.id)
        return Decision(keep: keep, remove: remove, reasons: reasons)
    }
}
