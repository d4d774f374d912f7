// A real libvirt daemon and a real booted guest for live-backup tests:
// libvirtd and virtlogd are started here when they do not run (no systemd
// on the test machines), and the guest is Debian's kernel with a small
// initramfs (Tests/Fixtures/make_test_guest.py) that runs the QEMU guest
// agent and writes to its disk without pause.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public enum LibvirtLab {
    public static let uri = "qemu:///system"
    /// virsh with a deadline: a libvirtd that stops answering fails the test instead of hanging the run.
    public static let virsh = ["timeout", "60", "virsh", "-c", uri]

    /// libvirtd answering on `uri`, started (with virtlogd) when it is not.
    public static func ensureDaemon() throws {
        let run = "/run/sendense-tests"
        try? FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        // QEMU's output goes through virtlogd: without it no domain starts, even with libvirtd answering.
        if (try? tool(["pgrep", "-x", "virtlogd"]))?.status != 0 { try startDaemon(["virtlogd", "-d", "-p", run + "/virtlogd.pid"]) }
        if (try? tool(virsh + ["version"]))?.status == 0 { return }
        try startDaemon(["libvirtd", "-d", "-p", run + "/libvirtd.pid"])
        for _ in 0..<100 {
            if (try? tool(virsh + ["version"]))?.status == 0 { return }
            usleep(100_000)
        }
        throw LabError("libvirtd did not start (apt-get install libvirt-daemon-system)")
    }

    /// Starts a daemon that forks into the background (`-d`). Not through
    /// `tool`: Foundation learns that a child ended when a socket the child
    /// inherits closes, and a daemon keeps every descriptor it inherited
    /// open, so `waitUntilExit` would wait for the daemon's end (seen: the
    /// whole test run hung here on a machine where libvirtd was not running).
    /// Python's subprocess starts it with only stdin, stdout and stderr.
    static func startDaemon(_ arguments: [String]) throws {
        let launcher = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True))"
        let started = try tool(["python3", "-c", launcher] + arguments)
        guard started.status == 0 else { throw LabError("\(arguments[0]) did not start (status \(started.status))") }
    }

    /// The guest's kernel and initramfs, built once per machine (rebuilt when the kernel changes).
    public static func guestFiles() throws -> (kernel: String, initrd: String) {
        let folder = FileManager.default.temporaryDirectory.path + "/sendense-test-guest"
        _ = try mustRun(["python3", packageRoot + "/Tests/Fixtures/make_test_guest.py", folder])
        // QEMU runs as its own user: it must reach and read them.
        chmod(folder, 0o755)
        return (folder + "/vmlinuz", folder + "/initramfs.img")
    }
}

public struct LabError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// One test domain: a qcow2 disk (ext4 made on the host, or empty, or one
/// the guest boots from by itself), the booted test guest, its serial
/// console in a file. `remove()` destroys and
/// undefines it with its checkpoints.
public final class LabDomain: Sendable {
    public enum Writer: String, Sendable {
        /// Rewrites files in the ext4 filesystem of its disk.
        case filesystem = "fs"
        /// Writes random 64 KiB blocks over its whole disk.
        case raw
        case none

        /// A qcow2 disk for this writer: an empty ext4 filesystem, or data before the guest starts (so a first full copies something).
        public func makeDisk(_ path: String, MiB: Int) throws {
            guard self == .filesystem else {
                _ = try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", path, "\(MiB)M"])
                _ = try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 32M", "-c", "write -P 0xa5 \(MiB / 2)M 16M", path])
                return
            }
            let raw = path + ".raw"
            _ = try mustRun(["truncate", "-s", "\(MiB)M", raw])
            _ = try mustRun(["mkfs.ext4", "-q", "-F", "-E", "nodiscard", raw])
            _ = try mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, path])
            unlink(raw)
        }
    }

    /// How the guest starts.
    public enum Boot: Sendable {
        /// libvirt hands QEMU the kernel and initramfs (`<kernel>`): quick, the disk holds only data.
        case kernel
        /// From its own disk, as a real VM: MBR, SYSLINUX, kernel and initramfs on a FAT partition
        /// (Tests/Fixtures/make_bootable_disk.py). The disk holds nothing else, so the writer is none.
        case disk
    }

    public let name: String
    public let folder: String
    public let disk: String
    public let console: String

    /// Defines and starts the domain; answers once the guest said it runs its writer.
    public init(name: String = "sendense-test-\(UUID().uuidString.prefix(8).lowercased())", diskMiB: Int = 256,
                writer: Writer = .filesystem, agent: Bool = true, boot: Boot = .kernel) throws {
        try LibvirtLab.ensureDaemon()
        let guest = try LibvirtLab.guestFiles()
        self.name = name
        folder = scratchFolder("libvirt-\(name)")
        chmod(folder, 0o755)
        disk = folder + "/vda.qcow2"
        console = folder + "/console.log"
        let cmdline = "console=ttyS0 quiet sendense.writer=\(boot == .disk ? "none" : writer.rawValue) sendense.agent=\(agent ? 1 : 0)"
        let os: String
        switch boot {
        case .kernel:
            try writer.makeDisk(disk, MiB: diskMiB)
            os = "<kernel>\(guest.kernel)</kernel><initrd>\(guest.initrd)</initrd><cmdline>\(cmdline)</cmdline>"
        case .disk:
            _ = try mustRun(["python3", packageRoot + "/Tests/Fixtures/make_bootable_disk.py", disk, guest.kernel, guest.initrd, cmdline])
            os = "<boot dev='hd'/>"
        }
        // TCG, not KVM: on the CI machines Linux hangs in its decompressor
        // under nested KVM (all host time in the kernel); TCG boots it in seconds.
        let xml = """
        <domain type='qemu'>
          <name>\(name)</name>
          <memory unit='MiB'>256</memory>
          <vcpu>1</vcpu>
          <os><type arch='x86_64' machine='pc'>hvm</type>\(os)</os>
          <devices>
            <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(disk)'/><target dev='vda' bus='virtio'/></disk>
            <serial type='file'><source path='\(console)'/><target port='0'/></serial>
            \(agent ? "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>" : "")
          </devices>
        </domain>
        """
        let definition = folder + "/domain.xml"
        try xml.write(toFile: definition, atomically: true, encoding: .utf8)
        _ = try mustRun(LibvirtLab.virsh + ["define", definition])
        do {
            _ = try mustRun(LibvirtLab.virsh + ["start", name])
            try waitForConsole("SENDENSE-GUEST-READY", timeout: 120)
            if agent { try waitForAgent(timeout: 60) }
        } catch {
            remove()
            throw error
        }
    }

    /// Kills QEMU (as a host crash would: its persistent bitmaps stay marked
    /// in use, inconsistent) and boots the guest again.
    public func killAndRestart() throws {
        // Not `virsh destroy`: its SIGTERM lets QEMU store the bitmaps cleanly first.
        let pid = try String(contentsOfFile: "/run/libvirt/qemu/\(name).pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let process = Int32(pid) else { throw LabError("no QEMU pid for \(name)") }
        kill(process, SIGKILL)
        for _ in 0..<100 where (try? virsh("domstate", name))?.hasPrefix("shut off") != true { usleep(100_000) }
        truncate(console, 0)
        _ = try virsh("start", name)
        try waitForConsole("SENDENSE-GUEST-READY", timeout: 120)
    }

    public func virsh(_ arguments: String...) throws -> String {
        try mustRun(LibvirtLab.virsh + arguments)
    }

    public func waitForConsole(_ text: String, timeout seconds: Int) throws {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while Date() < deadline {
            if let data = FileManager.default.contents(atPath: console), String(decoding: data, as: UTF8.self).contains(text) { return }
            usleep(200_000)
        }
        throw LabError("domain \(name) did not print \(text) within \(seconds) s")
    }

    public func waitForAgent(timeout seconds: Int) throws {
        let deadline = Date().addingTimeInterval(TimeInterval(seconds))
        while Date() < deadline {
            if (try? tool(LibvirtLab.virsh + ["qemu-agent-command", name, "{\"execute\":\"guest-ping\"}"]))?.status == 0 { return }
            usleep(500_000)
        }
        throw LabError("the guest agent of \(name) did not answer within \(seconds) s")
    }

    /// The disk as the paused guest left it: QEMU drains and flushes its
    /// disks when the guest pauses, so the image file holds the guest's disk.
    public func copyDisk(to raw: String) throws {
        _ = try mustRun(["qemu-img", "convert", "-U", "-f", "qcow2", "-O", "raw", disk, raw])
    }

    public func checkpoints() throws -> [String] {
        try virsh("checkpoint-list", name, "--name").split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    public func remove() {
        _ = try? tool(LibvirtLab.virsh + ["destroy", name])
        _ = try? tool(LibvirtLab.virsh + ["undefine", name, "--checkpoints-metadata"])
    }
}
