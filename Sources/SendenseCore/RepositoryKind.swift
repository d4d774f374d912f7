/// Where a repository keeps its files.
public enum RepositoryKind: String, Codable, Sendable, CaseIterable {
    /// A folder on the hub's own filesystem.
    case local
    /// An NFS export the hub mounts under its data dir.
    case nfs
    /// An SMB/CIFS share the hub mounts under its data dir.
    case cifs

    /// Where a backup or disk restore whose data lives in such a repository
    /// runs: `BlockingPool.jobs` for every kind. A share can hang for good
    /// (an NFS server gone under a hard mount): a stuck read or write holds
    /// one of its threads, never one that answers requests. A local disk was
    /// on the cooperative pool, which serves a job's many small steps a little
    /// faster (`make bench` BENCH=backup, 4 GiB with 2 GiB of data, same
    /// machine, 2026-12-04: full 5.35 s there, 6.28 s on the jobs pool;
    /// incremental 0.25 s and 0.30 s), but four backups then took both
    /// cooperative threads from the requests (BENCH=api: p50 of GET /health
    /// 178 ms, 4 ms on the jobs pool); its threads run at a lower priority.
    public var jobExecutor: any TaskExecutor { BlockingPool.jobs }
}
