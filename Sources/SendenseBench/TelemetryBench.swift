// Telemetry must not slow the data path (goal: under 2%). The same full
// backup of the benchmark disk runs through BackupService (catalog on disk,
// progress persisted every second) with telemetry sampled every second and
// with telemetry off, best of `runs` each. Which goes first alternates: the
// run after a 2 GiB repository was deleted is slower, whichever it is.
import Catalog
import Engine
import Foundation
import Logging
import Repository

func telemetryBench(work: String, source: String, runs: Int) async throws {
    let folder = work + "/telemetry"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let catalog = try CatalogDatabase(path: folder + "/catalog.sqlite")
    defer { try? catalog.close() }
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    var contextDisk = VMDiskRecord(contextId: "ctx-bench", diskIndex: 0, label: "vda", capacityBytes: Int64(diskSize), path: source)
    contextDisk.id = nil
    try await catalog.insertVMContext(VMContextRecord(contextId: "ctx-bench", vmName: "bench", sourceType: .qemuImage), disks: [contextDisk])
    var best: [Bool: Double] = [true: .infinity, false: .infinity]
    for run in 1...max(runs, 2) {
        for telemetry in run % 2 == 1 ? [true, false] : [false, true] {
            let repository = folder + "/repo-\(run)-\(telemetry)"
            let descriptor = try LocalRepository.prepare(at: repository)
            let repositoryID = try await catalog.insertRepository(RepositoryRecord(
                name: "r-\(run)-\(telemetry)", type: .local, path: repository, repositoryUuid: descriptor.id)).id ?? 0
            let service = BackupService(catalog: catalog, runDirectory: folder, logger: logger,
                                        telemetryInterval: telemetry ? .seconds(1) : nil)
            try shell("sync")
            let time = try await seconds {
                let started = try await service.start(.init(vmName: "bench", repositoryID: repositoryID, incremental: false, diskIndexes: nil))
                await service.wait(for: started.job.backupId)
                guard try await catalog.backup(id: started.job.backupId)?.status == .completed else { throw BenchError("backup failed") }
            }
            best[telemetry] = min(best[telemetry] ?? .infinity, time)
            print(String(format: "full backup with telemetry %@ run %d: %.2f s", telemetry ? "on " : "off", run, time))
            try FileManager.default.removeItem(atPath: repository)
        }
    }
    let on = best[true] ?? 0, off = best[false] ?? 0
    print(String(format: "telemetry on %.2f s, off %.2f s: %+.1f%% (goal: under 2%%)", on, off, (on / off - 1) * 100))
}
