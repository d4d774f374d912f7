import CSandbox
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a file-restore worker does to itself after opening the backup's
/// image files and before reading a byte of the guest's filesystem: the
/// parser that may meet hostile data then runs with
/// - no further file access at all (Landlock: nothing can be opened,
///   created, executed; the image descriptors stay usable), no TCP, no
///   abstract unix sockets, no signals outside (by the kernel's ABI);
/// - no network (a namespace of its own);
/// - the `nobody` user when started as root, and no way to regain privileges;
/// - bounded memory, no core dumps, no file writes.
/// What a kernel cannot do is reported, not fatal: the hub logs it.
enum WorkerSandbox {
    static func enter(memoryLimit: UInt64) -> SandboxReport {
        var notes: [String] = []
        limit(RLIMIT_CORE, 0)
        limit(RLIMIT_FSIZE, 0)
        if memoryLimit > 0 { limit(RLIMIT_AS, rlim_t(memoryLimit)) }

        let root = geteuid() == 0
        let network = sendense_unshare_network(root ? 0 : 1)
        if network != 0 { notes.append("no network namespace: \(String(cString: strerror(-network)))") }
        if root {
            let nobody = getpwnam("nobody")
            let (uid, gid) = (nobody?.pointee.pw_uid ?? 65534, nobody?.pointee.pw_gid ?? 65534)
            let dropped = sendense_drop_to(uid, gid)
            if dropped != 0 { notes.append("still root: \(String(cString: strerror(-dropped)))") }
        }
        let noNewPrivileges = sendense_no_new_privs() == 0
        let threads = threadCount()
        let landlock = sendense_landlock_deny_all()
        if landlock < 0 { notes.append("no Landlock: \(String(cString: strerror(-landlock)))") }
        return SandboxReport(
            landlockABI: max(0, Int(landlock)), networkIsolated: network == 0, uid: geteuid(),
            noNewPrivileges: noNewPrivileges, memoryLimitBytes: memoryLimit, threads: threads, notes: notes)
    }

    /// Only standard input and output (the hub's socket) and standard error
    /// stay open: nothing the hub held by accident reaches the parser. Called
    /// first, before the image files are opened.
    static func closeInheritedDescriptors() {
        _ = sendense_close_from(3)
    }

    private static func limit(_ resource: __rlimit_resource, _ value: rlim_t) {
        var bound = rlimit(rlim_cur: value, rlim_max: value)
        _ = setrlimit(__rlimit_resource_t(resource.rawValue), &bound)
    }

    private static func threadCount() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Threads:") })
        else { return -1 }
        return Int(line.dropFirst("Threads:".count).trimmingCharacters(in: .whitespaces)) ?? -1
    }
}
