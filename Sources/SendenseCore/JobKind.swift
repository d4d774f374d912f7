/// What a job does. Backups have their own rows (`backup_jobs`); every
/// other kind is recorded in the job history.
public enum JobKind: String, Codable, Sendable, CaseIterable {
    case backup
    case restore
    case verify
    case prune
    /// A merge of restore points retention folded into a kept one.
    case merge
    /// The janitor's sweep of stuck jobs, leftover processes and partial files.
    case cleanup
    /// A VM running from a restore point (instant recovery): it has its own
    /// rows (`recoveries`) and lasts until it is stopped.
    case recovery
    /// A restore point booted in a sandbox until its guest shows a heartbeat.
    case bootCheck = "boot_check"
}
