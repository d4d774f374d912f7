/// What a boot check found out about a restore point.
public enum BootCheckStatus: String, Codable, Sendable, CaseIterable {
    /// Its VM is booting in the sandbox.
    case running
    /// The guest showed its heartbeat in time.
    case passed
    /// The VM started but its guest showed no heartbeat in time, or stopped: the point may not boot.
    case failed
    /// The check could not judge the point (the sandbox did not start, it was cancelled or cut short).
    case error

    /// The job-list state of a check in this state.
    public var jobState: JobState {
        switch self {
        case .running: .running
        case .passed: .completed
        case .failed, .error: .failed
        }
    }
}

/// What a boot check waits for.
public enum BootHeartbeat: String, Codable, Sendable, CaseIterable {
    /// The QEMU guest agent answers `guest-ping`.
    case agent
    /// A text appears on the first serial console.
    case console
}
