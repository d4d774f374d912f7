// `make bench`: the backup data path against the reference tool, in one run.
//
// A 4 GiB qcow2 disk holding 2 GiB of random data is
//   1. copied by `qemu-img convert -O qcow2` (the reference),
//   2. backed up in full by Sendense (qemu-nbd export, NBD client, QCOW2 writer),
//   3. changed by 1% and backed up incrementally.
// Each timing is the best of RUNS (default 2). Goals: full backup at least as
// fast as qemu-img convert (ratio >= 1.0); incremental at most 5% of the full.
// qemu-img convert is timed three ways: as it is (it returns with its output
// in the page cache), followed by `sync -f`, and with `-t none` (its own
// durable mode: direct writes, then a flush) — a backup returns only once
// its image is durable.
// Then whole-disk restore of the newest point (RestoreBench.swift), file-level
// restore (FileRestoreBench.swift) and vCenter discovery
// (DiscoveryBench.swift), and telemetry's cost on the data path
// (TelemetryBench.swift), and live backups of a running libvirt domain
// beside virtnbdbackup (LiveBackupBench.swift). BENCH=backup, files,
// discovery, telemetry or live runs only one of them. The hub under HTTP load is scripts/bench-api-load.sh
// (make bench runs it after this).
import BackupSources
import Engine
import Foundation
import Repository
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

let environment = ProcessInfo.processInfo.environment
MemoryTuning.forLargeBuffers()  // as the hub does
let work = environment["BENCH_DIR"] ?? "/var/tmp/sendense-bench"
let runs = Int(environment["RUNS"] ?? "") ?? 2
let diskSize: UInt64 = 4 << 30
let dataBytes: UInt64 = 2 << 30
let block: UInt64 = 64 << 20

func shell(_ command: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = ["-c", command]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw BenchError("failed: \(command)") }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Where backups and restores run: as the hub runs them (RepositoryKind.jobExecutor,
/// the jobs pool at a lower priority); BENCH_EXECUTOR=cooperative runs them on
/// Swift's cooperative pool, where local ones ran before, to compare.
let jobExecutor: (any TaskExecutor)? = environment["BENCH_EXECUTOR"] == "cooperative" ? nil : RepositoryKind.local.jobExecutor

func seconds(_ body: () async throws -> Void) async throws -> Double {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    return elapsed.inSeconds
}

/// CPU time used so far by this process and by its children that ended.
func cpuSeconds() -> (own: Double, children: Double) {
    func total(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(who.rawValue, &usage)
        return [usage.ru_utime, usage.ru_stime].reduce(0) { $0 + Double($1.tv_sec) + Double($1.tv_usec) / 1e6 }
    }
    return (total(RUSAGE_SELF), total(RUSAGE_CHILDREN))
}

/// Fast deterministic random bytes (SplitMix64): generating 2 GiB must not dominate.
func fillRandom(_ buffer: UnsafeMutableRawBufferPointer, state: inout UInt64) {
    var index = 0
    while index + 8 <= buffer.count {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        buffer.storeBytes(of: z ^ (z >> 31), toByteOffset: index, as: UInt64.self)
        index += 8
    }
}

try? FileManager.default.removeItem(atPath: work)
try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
let only = environment["BENCH"]
if only == "discovery" {
    try await discoveryBench(runs: runs)
    exit(0)
}
if only == "files" {
    try await fileRestoreBench(work: work, runs: runs)
    try? FileManager.default.removeItem(atPath: work)
    exit(0)
}
let source = work + "/source.qcow2"
print("backups and restores run on \(jobExecutor == nil ? "the cooperative pool (BENCH_EXECUTOR=cooperative)" : "the jobs pool, as in the hub")")
print("preparing \(diskSize >> 30) GiB disk with \(dataBytes >> 30) GiB random data in \(work) ...")
do {
    let raw = work + "/seed.raw"
    let fd = open(raw, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    ftruncate(fd, off_t(diskSize))
    var state: UInt64 = 42
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(block), alignment: 8)
    defer { buffer.deallocate() }
    // Every other 64 MiB block holds data: 2 GiB of data, 2 GiB of holes.
    for index in stride(from: UInt64(0), to: diskSize / block, by: 2) {
        fillRandom(buffer, state: &state)
        _ = pwrite(fd, buffer.baseAddress, Int(block), off_t(index * block))
    }
    close(fd)
    try shell("qemu-img convert -f raw -O qcow2 \(raw) \(source) && rm \(raw)")
}
if only == "live" {
    try await liveBackupBench(work: work, source: source, runs: runs)
    try? FileManager.default.removeItem(atPath: work)
    exit(0)
}

var referenceBest = Double.infinity
var syncedBest = Double.infinity
var directBest = Double.infinity
for run in 1...runs {
    let target = work + "/reference-\(run).qcow2"
    try shell("sync")
    let time = try await seconds { try shell("qemu-img convert -f qcow2 -O qcow2 \(source) \(target)") }
    let flushed = try await seconds { try shell("sync -f \(target)") }
    try FileManager.default.removeItem(atPath: target)
    try shell("sync")
    let direct = try await seconds { try shell("qemu-img convert -t none -f qcow2 -O qcow2 \(source) \(target)") }
    try FileManager.default.removeItem(atPath: target)
    referenceBest = min(referenceBest, time)
    syncedBest = min(syncedBest, time + flushed)
    directBest = min(directBest, direct)
    print(String(format: "qemu-img convert run %d: %.2f s, %.2f s with sync -f, %.2f s with -t none", run, time, time + flushed, direct))
}

let vm = BackupManifest.VM(name: "bench", sourceType: .qemuImage, identity: ["disk": source])
let sourceVM = QemuImageSource(disks: [.init(index: 0, path: source, label: "vda")], socketDirectory: work)
var fullBest = Double.infinity
var lastFull: BackupManifest?
for run in 1...runs {
    let repository = work + "/repo-\(run)"
    try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
    let job = BackupJob(backupID: "full-\(run)", vm: vm, repositoryRoot: repository, parent: nil)
    var manifest: BackupManifest?
    try shell("sync")
    let cpuBefore = cpuSeconds()
    let time = try await seconds { manifest = try await withTaskExecutorPreference(jobExecutor) { try await job.run(source: sourceVM) } }
    let cpuAfter = cpuSeconds()
    fullBest = min(fullBest, time)
    print(String(format: "sendense full backup run %d: %.2f s (CPU: %.2f s Sendense, %.2f s its qemu-img/qemu-nbd)",
                 run, time, cpuAfter.own - cpuBefore.own, cpuAfter.children - cpuBefore.children))
    if run < runs { try FileManager.default.removeItem(atPath: repository) } else { lastFull = manifest }
}

// Each run changes 1% of the disk, 655 scattered 64 KiB writes (41 MiB),
// and backs it up incrementally from the run before.
guard var parent = lastFull else { throw BenchError("no full backup") }
var incBest = Double.infinity
var state: UInt64 = 7
for run in 1...max(runs, 3) {
    var commands: [String] = []
    for _ in 0..<655 {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let cluster = (state >> 33) % (diskSize / 65536)
        commands.append("-c 'write -P \((state >> 20) % 255 + 1) \(cluster * 65536) 64k'")
    }
    try shell("qemu-io -f qcow2 \(commands.joined(separator: " ")) \(source) > /dev/null")
    let incremental = BackupJob(backupID: "incremental-\(run)", vm: vm, repositoryRoot: work + "/repo-\(runs)",
                                parent: .init(backupID: parent.backupId, checkpoints: [0: parent.disks[0].checkpoint ?? ""]))
    var manifest: BackupManifest?
    let time = try await seconds { manifest = try await withTaskExecutorPreference(jobExecutor) { try await incremental.run(source: sourceVM) } }
    guard let manifest else { throw BenchError("no incremental backup") }
    incBest = min(incBest, time)
    print(String(format: "sendense incremental (1%% changed) run %d: %.3f s, %.1f MiB written",
                 run, time, Double(manifest.disks[0].bytesWritten) / 1048576))
    try shell("qemu-img compare -f qcow2 -F qcow2 \(incremental.layout.backupDirectory(manifest.backupId))/disk-0.qcow2 \(source) > /dev/null")
    parent = manifest
}

let mb = Double(dataBytes) / 1e6
print("")
print(String(format: "qemu-img convert         : %7.1f MB/s (%.2f s)", mb / referenceBest, referenceBest))
print(String(format: "qemu-img convert + sync  : %7.1f MB/s (%.2f s)", mb / syncedBest, syncedBest))
print(String(format: "qemu-img convert -t none : %7.1f MB/s (%.2f s)", mb / directBest, directBest))
print(String(format: "sendense full            : %7.1f MB/s (%.2f s)  ratio vs convert %.2f (goal >= 1.0), vs convert + sync %.2f, vs -t none %.2f",
             mb / fullBest, fullBest, referenceBest / fullBest, syncedBest / fullBest, directBest / fullBest))
print(String(format: "sendense incremental     : %7.3f s, %.1f%% of the full's time (goal <= 5%%)", incBest, incBest / fullBest * 100))
try await restoreBench(top: BackupLayout(repositoryRoot: "\(work)/repo-\(runs)", vmName: "bench").backupDirectory(parent.backupId) + "/disk-0.qcow2",
                       work: work, runs: runs)
if only == nil || only == "telemetry" { try await telemetryBench(work: work, source: source, runs: runs) }
if only == nil {
    try await liveBackupBench(work: work, source: source, runs: runs)
    try await fileRestoreBench(work: work, runs: runs)
    try await discoveryBench(runs: runs)
}
try? FileManager.default.removeItem(atPath: work)
