import Foundation
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// The disks of a VM running from a restore point: one qcow2 overlay per
/// disk, backed by the point's image in the repository (read-only: QEMU
/// never opens a backing file for writing), served over NBD on one unix
/// socket by a `qemu-storage-daemon` of the hub's. The VM's QEMU reaches
/// nothing but that socket, so the repository keeps its owners and modes
/// whoever QEMU runs as, and the guest's writes land in the overlays.
///
/// The daemon detaches from the hub (`--daemonize`): a VM whose disks went
/// away with a killed hub would see I/O errors; it keeps serving until it is
/// stopped, and the restarted hub finds it again by PID and start time.
public enum RecoveryDiskServer {
    public struct Disk: Sendable {
        public var index: Int
        /// The restore point's image of this disk (absolute).
        public var image: String

        public init(index: Int, image: String) {
            self.index = index
            self.image = image
        }
    }

    /// The running daemon, as recorded with the session.
    public struct Process: Sendable, Equatable {
        public var pid: Int32
        public var startTime: UInt64

        public init(pid: Int32, startTime: UInt64) {
            self.pid = pid
            self.startTime = startTime
        }

        /// Whether it still runs (not only exists: once it has ended it is
        /// not the hub's child, and an init that does not reap leaves a zombie).
        public var isRunning: Bool {
            guard ChildProcess.startTime(of: pid) == startTime,
                  let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
                  let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return false }
            return stat[close + 2] != UInt8(ascii: "Z")
        }
    }

    public static func socket(in workFolder: String) -> String { workFolder + "/nbd.sock" }
    public static func exportName(of index: Int) -> String { "disk\(index)" }
    static func overlay(of index: Int, in folder: String) -> String { folder + "/disk\(index).qcow2" }

    /// The folder QEMU reaches the disks in, owned by `owner` (the user QEMU runs as).
    public static func makeWorkFolder(runDirectory: String, recoveryID: String, owner: (uid: UInt32, gid: UInt32)?) throws -> String {
        try QemuWorkFolder.make(in: QemuWorkFolder.recoveryParent(runDirectory: runDirectory), name: recoveryID, owner: owner)
    }

    /// Creates the overlays in `folder` and starts the daemon; answers once
    /// it serves every disk. On failure nothing of it runs.
    public static func start(disks: [Disk], folder: String, workFolder: String,
                             socketOwner: (uid: UInt32, gid: UInt32)?) async throws -> Process {
        for disk in disks {
            _ = try await QemuImageTool.run(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", disk.image,
                                             overlay(of: disk.index, in: folder)])
        }
        let pidFile = folder + "/server.pid"
        let socket = socket(in: workFolder)
        var arguments = ["--daemonize", "--pidfile", pidFile]
        for disk in disks {
            arguments += ["--blockdev", "driver=file,node-name=file\(disk.index),filename=\(escaped(overlay(of: disk.index, in: folder))),discard=unmap",
                          "--blockdev", "driver=qcow2,node-name=disk\(disk.index),file=file\(disk.index),discard=unmap"]
        }
        arguments += ["--nbd-server", "addr.type=unix,addr.path=\(escaped(socket))"]
        for disk in disks {
            arguments += ["--export", "type=nbd,id=export\(disk.index),node-name=disk\(disk.index),name=\(exportName(of: disk.index)),writable=on"]
        }
        // With --daemonize the command returns once the daemon serves (or failed to).
        let started = try SpawnedProcess(executable: "/usr/bin/qemu-storage-daemon", arguments: arguments,
                                         environment: ProcessInfo.processInfo.environment)
        let status = await BlockingPool.shared.run { started.waitForStatus() }
        guard status == 0, let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), let startTime = ChildProcess.startTime(of: pid) else {
            throw SourceError.exportFailed("qemu-storage-daemon did not start: \(started.errorOutput())")
        }
        let server = Process(pid: pid, startTime: startTime)
        // The socket is the daemon's (root's); QEMU must be able to connect to it.
        if let owner = socketOwner, chown(socket, owner.uid, owner.gid) != 0 {
            let reason = String(cString: strerror(errno))
            await stop(server)
            throw SourceError.exportFailed("cannot give \(socket) to QEMU's user \(owner.uid): \(reason)")
        }
        return server
    }

    /// Stops the daemon (SIGTERM: it flushes and closes the overlays), and
    /// kills it if it has not ended within 10 s.
    public static func stop(_ server: Process) async {
        guard server.isRunning else { return }
        kill(server.pid, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(10)
        while server.isRunning {
            if ContinuousClock.now > deadline {
                kill(server.pid, SIGKILL)
                try? await Task.sleep(for: .milliseconds(100))
                return
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// QEMU's option syntax: a comma in a value is written twice.
    private static func escaped(_ value: String) -> String { value.replacingOccurrences(of: ",", with: ",,") }
}
