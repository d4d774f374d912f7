/// How one run of a protection flow, or one VM within it, stands.
/// A run ends `completed` when every VM did, `partial` when some did,
/// `skipped` when none needed to, and `failed` otherwise.
public enum FlowRunState: String, Codable, Sendable, CaseIterable {
    /// A VM waiting for its turn in the run.
    case queued
    case running
    case completed
    case partial
    case failed
    case skipped
}
