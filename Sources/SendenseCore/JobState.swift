/// The one vocabulary for how any job stands — backup, restore, verify,
/// prune, merge, cleanup — as `GET /jobs` and the event stream say it. A job
/// runs, then ends in exactly one of the three final states.
public enum JobState: String, Codable, Sendable, CaseIterable {
    case running
    case completed
    case failed
    case cancelled

    public var isFinal: Bool { self != .running }
}
