#if canImport(Glibc)
import Glibc
#endif

/// Long jobs' threads run at a lower priority than the threads that answer
/// requests: the jobs pool's threads and the data path's event loops.
public enum ThreadNiceness {
    /// Nice 10: four backups on two cores once left the API no CPU.
    public static let jobs: Int32 = 10

    /// Sets the calling thread's nice value to `niceness` (who = 0 is the
    /// calling thread: on Linux nice is per thread). Threads start at the
    /// hub's own nice value, 0 when it was started normally.
    public static func lowerCurrentThread(by niceness: Int32) {
        guard niceness != 0 else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
    }
}
