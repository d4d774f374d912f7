// A plain QEMU (no libvirt) running the test guest, reached through its QMP
// socket, as a Proxmox VE guest or a hand-started VM is: its disk is the
// block device `drive-virtio0`.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public final class QemuGuest: Sendable {
    public static let device = "drive-virtio0"

    public let folder: String
    public let disk: String
    public let qmpSocket: String
    /// A second QMP monitor for the test itself: a QMP socket serves one client at a time.
    public let controlSocket: String
    public let console: String
    /// The host end of the guest agent's channel (when started with one).
    public let agentSocket: String
    /// The host end of a channel like it that nothing in the guest answers on (a guest agent not running).
    public let silentSocket: String
    private let process: Process

    /// Starts QEMU (TCG, like `LabDomain`) and answers once the guest runs
    /// its writer (`agent`: and its guest agent, on `agentSocket`).
    public init(diskMiB: Int = 256, writer: LabDomain.Writer = .raw, agent: Bool = false) throws {
        let guest = try LibvirtLab.guestFiles()
        folder = scratchFolder("qemu")
        disk = folder + "/vda.qcow2"
        qmpSocket = folder + "/qmp.sock"
        controlSocket = folder + "/control.sock"
        console = folder + "/console.log"
        agentSocket = folder + "/agent.sock"
        silentSocket = folder + "/silent.sock"
        try writer.makeDisk(disk, MiB: diskMiB)
        let qemu = Process()
        qemu.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-system-x86_64")
        qemu.arguments = [
            "-accel", "tcg", "-m", "256", "-display", "none", "-nodefaults", "-no-user-config",
            "-serial", "file:\(console)", "-kernel", guest.kernel, "-initrd", guest.initrd,
            "-append", "console=ttyS0 quiet sendense.writer=\(writer.rawValue) sendense.agent=\(agent ? 1 : 0)",
            "-drive", "file=\(disk),format=qcow2,if=none,id=\(Self.device)", "-device", "virtio-blk-pci,drive=\(Self.device)",
            "-qmp", "unix:\(qmpSocket),server=on,wait=off", "-qmp", "unix:\(controlSocket),server=on,wait=off",
        ] + (agent ? ["-device", "virtio-serial-pci",
                      "-chardev", "socket,path=\(agentSocket),server=on,wait=off,id=qga0",
                      "-device", "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
                      "-chardev", "socket,path=\(silentSocket),server=on,wait=off,id=silent0",
                      "-device", "virtserialport,chardev=silent0,name=org.sendense.silent"] : [])
        qemu.standardOutput = FileHandle.nullDevice
        qemu.standardError = FileHandle.nullDevice
        try qemu.run()
        process = qemu
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: console), String(decoding: data, as: UTF8.self).contains("SENDENSE-GUEST-READY") { return }
            guard qemu.isRunning else { break }
            usleep(200_000)
        }
        stop()
        throw LabError("the QEMU guest did not start its writer within 120 s")
    }

    public var isRunning: Bool { process.isRunning }

    /// Runs one QMP command on the control monitor (through Python: this
    /// target depends on nothing of ours); answers its `return` as JSON text.
    public func qmp(_ command: String, _ arguments: String = "{}") throws -> String {
        let script = """
            import json, socket, sys
            s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
            f.readline()
            for message in ({"execute": "qmp_capabilities"}, {"execute": sys.argv[2], "arguments": json.loads(sys.argv[3])}):
                f.write(json.dumps(message) + "\\n"); f.flush()
                while True:
                    answer = json.loads(f.readline())
                    if "event" not in answer: break
            if "error" in answer: sys.exit(answer["error"]["desc"])
            print(json.dumps(answer["return"]))
            """
        return try mustRun(["python3", "-c", script, controlSocket, command, arguments])
    }

    /// Kills QEMU as a crash would (its persistent bitmaps stay in use, inconsistent).
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// The disk as QEMU left it after a `stop` (it drains and flushes when the guest pauses).
    public func copyDisk(to raw: String) throws {
        _ = try mustRun(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", disk, raw])
    }
}
