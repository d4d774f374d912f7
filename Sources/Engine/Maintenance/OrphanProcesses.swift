import BackupSources
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Finds and stops the NBD servers and SSH tunnels a previous hub process
/// started and could not stop (it was killed). They are recognised by their
/// command line naming a socket in this hub's private run directory or its
/// QEMU work folders, so no unrelated process and no reused PID is ever touched.
enum OrphanProcesses {
    static func stopServers(usingSocketsIn runDirectory: String) -> [Int32] {
        let folders = [runDirectory, QemuWorkFolder.parent(runDirectory: runDirectory)].map { $0 + "/" }
        var stopped: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
            else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard let program = arguments.first, ["qemu-nbd", "nbdkit", "ssh"].contains((program as NSString).lastPathComponent),
                  arguments.contains(where: { argument in folders.contains { argument.hasPrefix($0) } })
            else { continue }
            if kill(pid, SIGKILL) == 0 { stopped.append(pid) }
        }
        return stopped
    }
}
