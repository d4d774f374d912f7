// `BENCH=live` (and the whole `make bench`): live backups of a running
// libvirt domain beside virtnbdbackup (Debian's), on the same domain in the
// same run. The domain runs the 4 GiB disk with 2 GiB of data under KVM (no
// guest OS: SeaBIOS idles; "guest" writes go in through QEMU's own qemu-io,
// HMP). Goals: a live full at least 3x faster than virtnbdbackup's, a 1%
// incremental at most 5% of the full's time. The guest's write rate is
// measured idle and while a live full runs.
import BackupSources
import Engine
import Foundation
import Repository
import SendenseCore

func liveBackupBench(work: String, source: String, runs: Int) async throws {
    guard FileManager.default.isExecutableFile(atPath: "/usr/bin/virsh"), FileManager.default.isExecutableFile(atPath: "/usr/sbin/libvirtd") else {
        print("live backup bench skipped: libvirt is not installed (scripts/install-deps.sh --test)")
        return
    }
    let uri = "qemu:///system"
    // Daemons start with no inherited descriptor: Foundation learns that bash ended when a socket
    // bash inherited closes, and a daemon would keep it open (the wait would last as long as it).
    let detached = "python3 -c 'import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))'"
    try shell("mkdir -p /run/sendense-bench && (pgrep -x virtlogd > /dev/null || \(detached) virtlogd -d -p /run/sendense-bench/virtlogd.pid)")
    if (try? shell("virsh -c \(uri) version > /dev/null 2>&1")) == nil {
        try shell("\(detached) libvirtd -d -p /run/sendense-bench/libvirtd.pid && sleep 2")
    }
    let name = "sendense-bench-live"
    let disk = work + "/live.qcow2"
    try shell("cp --sparse=always \(source) \(disk) && chmod 755 \(work)")
    let accelerator = FileManager.default.fileExists(atPath: "/dev/kvm") ? "kvm" : "qemu"
    let definition = work + "/live.xml"
    try """
    <domain type='\(accelerator)'><name>\(name)</name><memory unit='MiB'>256</memory><vcpu>1</vcpu>
      <os><type arch='x86_64' machine='pc'>hvm</type></os>
      <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(disk)'/><target dev='vda' bus='virtio'/></disk></devices>
    </domain>
    """.write(toFile: definition, atomically: true, encoding: .utf8)
    _ = try? shell("virsh -c \(uri) destroy \(name) > /dev/null 2>&1; virsh -c \(uri) undefine \(name) --checkpoints-metadata > /dev/null 2>&1")
    try shell("virsh -c \(uri) define \(definition) > /dev/null && virsh -c \(uri) start \(name) > /dev/null")
    defer { _ = try? shell("virsh -c \(uri) destroy \(name) > /dev/null; virsh -c \(uri) undefine \(name) --checkpoints-metadata > /dev/null") }

    /// Writes through QEMU as the guest would: `count` writes of `size` MiB at distinct places.
    var pattern = 1
    func guestWrites(count: Int, sizeMiB: Int, seed: Int) throws {
        for index in 0..<count {
            pattern = pattern % 250 + 1
            let offset = ((seed * 7919 + index * 104_729) % (4096 - sizeMiB)) << 20
            try shell("virsh -c \(uri) qemu-monitor-command \(name) --hmp 'qemu-io -d /machine/peripheral/virtio-disk0/virtio-backend \"write -P \(pattern) \(offset) \(sizeMiB)M\"' > /dev/null")
        }
    }

    let uuid = try capture("virsh -c \(uri) domuuid \(name)").trimmingCharacters(in: .whitespacesAndNewlines)
    let live = LibvirtSource(reference: .init(uri: uri, uuid: uuid, disks: [.init(index: 0, target: "vda")]), runDirectory: work + "/run")
    let vm = BackupManifest.VM(name: "bench-live", sourceType: .libvirt, identity: [:])
    print("\nlive backups of a running domain (\(accelerator == "kvm" ? "KVM" : "TCG"), 4 GiB disk, 2 GiB data):")

    var fullBest = Double.infinity
    var last: BackupManifest?
    var repository = ""
    for run in 1...runs {
        repository = work + "/live-repo-\(run)"
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        let job = BackupJob(backupID: "live-full-\(run)", vm: vm, repositoryRoot: repository, parent: nil)
        try shell("sync")
        let time = try await seconds { last = try await withTaskExecutorPreference(jobExecutor) { try await job.run(source: live) } }
        fullBest = min(fullBest, time)
        print(String(format: "sendense live full run %d: %.2f s", run, time))
    }
    var incBest = Double.infinity
    for run in 1...max(runs, 3) {
        guard let parent = last else { break }
        try guestWrites(count: 41, sizeMiB: 1, seed: run)  // 1% of 4 GiB
        let job = BackupJob(backupID: "live-inc-\(run)", vm: vm, repositoryRoot: repository,
                            parent: .init(backupID: parent.backupId, checkpoints: [0: parent.disks[0].checkpoint ?? ""]))
        let time = try await seconds { last = try await withTaskExecutorPreference(jobExecutor) { try await job.run(source: live) } }
        incBest = min(incBest, time)
        print(String(format: "sendense live incremental (1%% changed) run %d: %.3f s, %.1f MiB written", run, time,
                     Double(last?.disks[0].bytesWritten ?? 0) / 1_048_576))
    }

    // The guest's own writes: idle, then while a live full backup reads the disk.
    let writes = 24, writeMiB = 16
    let idle = try await seconds { try guestWrites(count: writes, sizeMiB: writeMiB, seed: 100) }
    let busyRepository = work + "/live-repo-busy"
    try FileManager.default.createDirectory(atPath: busyRepository, withIntermediateDirectories: true)
    let backup = Task { try await BackupJob(backupID: "live-busy", vm: vm, repositoryRoot: busyRepository, parent: nil).run(source: live) }
    try await Task.sleep(for: .milliseconds(200))
    let busy = try await seconds { try guestWrites(count: writes, sizeMiB: writeMiB, seed: 200) }
    _ = try await backup.value

    // virtnbdbackup on the same domain, which refuses to start while checkpoints it did not make exist.
    try shell("for c in $(virsh -c \(uri) checkpoint-list \(name) --name); do virsh -c \(uri) checkpoint-delete \(name) $c > /dev/null; done")
    var peerFull = Double.infinity, peerInc = Double.infinity
    do {
        (peerFull, peerInc) = try await virtnbdbackupRuns(domain: name, uri: uri, work: work, runs: runs) { try guestWrites(count: 41, sizeMiB: 1, seed: 50 + $0) }
    } catch {
        print("virtnbdbackup: \(error); its log: \(work)/virtnbdbackup.log")
    }

    let mb = Double(writes * writeMiB) * 1.048576
    print("")
    print(String(format: "sendense live full        : %6.2f s  virtnbdbackup %6.2f s  ratio %.2f (goal >= 3.0)", fullBest, peerFull, peerFull / fullBest))
    print(String(format: "sendense live incremental : %6.3f s  virtnbdbackup %6.3f s  %.1f%% of the full's time (goal <= 5%%)",
                 incBest, peerInc, incBest / fullBest * 100))
    print(String(format: "guest writes (qemu-io, %d x %d MiB): %.1f MB/s idle, %.1f MB/s during a live full (%.0f%%)",
                 writes, writeMiB, mb / idle, mb / busy, idle / busy * 100))
}

/// virtnbdbackup's best full and 1% incremental (`change` writes the 1% before each), in seconds.
func virtnbdbackupRuns(domain: String, uri: String, work: String, runs: Int, change: (Int) throws -> Void) async throws -> (Double, Double) {
    let peer = "/usr/bin/virtnbdbackup"
    guard FileManager.default.isExecutableFile(atPath: peer) else { throw BenchError("not installed (apt-get install virtnbdbackup)") }
    var full = Double.infinity, incremental = Double.infinity
    for run in 1...runs {
        let target = work + "/virtnbdbackup-\(run)"
        try shell("sync")
        let time = try await seconds { try shell("\(peer) -U \(uri) -d \(domain) -l full -o \(target) > \(work)/virtnbdbackup.log 2>&1") }
        full = min(full, time)
        print(String(format: "virtnbdbackup full run %d: %.2f s", run, time))
        if run < runs { try FileManager.default.removeItem(atPath: target) }
    }
    for run in 1...max(runs, 3) {
        try change(run)
        let time = try await seconds { try shell("\(peer) -U \(uri) -d \(domain) -l inc -o \(work)/virtnbdbackup-\(runs) > \(work)/virtnbdbackup.log 2>&1") }
        incremental = min(incremental, time)
        print(String(format: "virtnbdbackup incremental (1%% changed) run %d: %.3f s", run, time))
    }
    return (full, incremental)
}

func capture(_ command: String) throws -> String {
    let process = Process()
    let pipe = Pipe()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchError("failed: \(command)") }
    return String(decoding: data, as: UTF8.self)
}
