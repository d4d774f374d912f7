/// The life of a job: `started → in_progress → completed | failed | cancelled`.
public enum JobStatus: String, Codable, Sendable, CaseIterable {
    case started
    case inProgress = "in_progress"
    case completed
    case failed
    case cancelled

    /// A job in a final state never changes again.
    public var isFinal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .started, .inProgress: false
        }
    }
}
