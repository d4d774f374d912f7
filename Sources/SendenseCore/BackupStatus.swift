/// Where a backup is in its life, as its catalog row and the API say it:
/// `started → in_progress → completed | failed | cancelled`.
public enum BackupStatus: String, Codable, Sendable, CaseIterable {
    case started
    case inProgress = "in_progress"
    case completed
    case failed
    case cancelled

    /// The two states of a backup that has not ended.
    public static let unfinished: [BackupStatus] = [.started, .inProgress]

    /// A backup in a final state never changes again.
    public var isFinal: Bool { !Self.unfinished.contains(self) }

    /// The same moment in the vocabulary every job shares (`GET /jobs`).
    public var jobState: JobState {
        switch self {
        case .started, .inProgress: .running
        case .completed: .completed
        case .failed: .failed
        case .cancelled: .cancelled
        }
    }
}
