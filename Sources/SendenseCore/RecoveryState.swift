/// How an instant recovery stands: a VM started from a restore point, its
/// writes kept apart from the point until the session is stopped.
public enum RecoveryState: String, Codable, Sendable, CaseIterable {
    /// Its disks are being published and its VM defined.
    case starting
    /// The VM was started and the session holds its restore point.
    case running
    /// Its disks are being copied to production storage while the VM runs.
    case migrating
    /// Its VM, disks and files are being removed.
    case stopping
    /// Ended by a stop: the VM and everything it wrote are gone.
    case stopped
    /// Its VM runs from its own disks, defined for good: no longer the session's.
    case migrated
    /// Could not start, or lost what it ran on (see its error).
    case failed

    /// Whether the session still holds its restore point and files.
    public var isActive: Bool { [.starting, .running, .migrating, .stopping].contains(self) }

    /// The job-list state of a session in this state.
    public var jobState: JobState {
        switch self {
        case .starting, .running, .migrating, .stopping: .running
        case .stopped, .migrated: .completed
        case .failed: .failed
        }
    }
}

/// Whether a recovered VM's domain runs now, in libvirt's words (`virsh domstate`).
public enum RecoveredVMState: String, Codable, Sendable, CaseIterable {
    case running
    case shutOff = "shut off"
}
