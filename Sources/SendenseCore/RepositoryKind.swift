/// Where a repository keeps its files.
public enum RepositoryKind: String, Codable, Sendable, CaseIterable {
    /// A folder on the hub's own filesystem.
    case local
    /// An NFS export the hub mounts under its data dir.
    case nfs
    /// An SMB/CIFS share the hub mounts under its data dir.
    case cifs

    /// Where a backup or disk restore whose data lives in such a repository
    /// runs. A share can hang for good (an NFS server gone under a hard
    /// mount): its jobs run on `BlockingPool`, so a stuck read or write holds
    /// one of its threads, never one of the cooperative threads that answer
    /// requests. A local disk does not hang for good, and its jobs stay on
    /// the cooperative pool (nil), which serves their many small steps faster.
    /// `make bench` (BENCH=backup, best of runs, each pool in its own run of
    /// one series): incremental 0.096-0.136 s there, 0.134-0.222 s on the
    /// blocking pool; full 2.01 s and 2.18-2.24 s (0.3 s more CPU); restore
    /// to qcow2 1.20 s and 1.65-1.73 s.
    public var jobExecutor: (any TaskExecutor)? { self == .local ? nil : BlockingPool.shared }
}
