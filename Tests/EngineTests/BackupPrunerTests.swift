import Catalog
import Engine
import Foundation
import GRDB
import Logging
import Repository
import SendenseCore
import Synchronization
import TestSupport
import Testing

/// Retention over real chains: points are backed up for real, dated by the
/// test, pruned, and every kept point is judged by qemu-img against the disk
/// as it was when that point was taken.
@Suite(.serialized, .removesScratch) struct BackupPrunerTests {
    struct Lab {
        let scheduler: FlowSchedulerTests.Lab
        let image: String
        var random = SplitMix64(seed: 99)
        var points: [(id: String, raw: String)] = []

        init() async throws {
            scheduler = try await FlowSchedulerTests.Lab(vms: [])
            image = scheduler.folder + "/vm.qcow2"
            try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "24M"])
            try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x11 0 6M", "-c", "write -P 0x22 12M 4M", image])
            let context = VMContextRecord(contextId: "ctx-vm", vmName: "vm", sourceType: .qemuImage)
            try await scheduler.catalog.insertVMContext(context, disks: [VMDiskRecord(contextId: "ctx-vm", diskIndex: 0, label: "vda", capacityBytes: 24 << 20, path: image)])
        }

        var catalog: CatalogDatabase { scheduler.catalog }

        /// Guest writes, zeroes and discards, then a backup dated `date`, and a raw copy of the disk as it is now.
        mutating func backup(at date: String) async throws {
            if !points.isEmpty {
                var commands: [String] = []
                for _ in 0..<6 {
                    let offset = UInt64.random(in: 0..<(23 << 20), using: &random) / 65536 * 65536
                    switch Int.random(in: 0..<3, using: &random) {
                    case 0: commands += ["-c", "write -z \(offset) 128k"]
                    case 1: commands += ["-c", "discard \(offset) 64k"]
                    default: commands += ["-c", "write -P \(Int.random(in: 1...255, using: &random)) \(offset) 192k"]
                    }
                }
                try mustRun(["qemu-io", "-f", "qcow2"] + commands + [image])
            }
            let started = try await scheduler.backups.start(.init(vmName: "vm", repositoryID: scheduler.repositoryID, incremental: true, diskIndexes: nil))
            let id = started.job.backupId
            await scheduler.backups.wait(for: id)
            #expect(try await catalog.backup(id: id)?.status == .completed)
            let queue = try DatabaseQueue(path: scheduler.folder + "/catalog.sqlite")
            try await queue.write { db in
                try db.execute(sql: "UPDATE backup_jobs SET created_at = ? WHERE backup_id = ?", arguments: [try Date(date, strategy: .iso8601), id])
            }
            let raw = scheduler.folder + "/\(id).raw"
            try mustRun(["qemu-img", "convert", "-O", "raw", image, raw])
            points.append((id, raw))
        }

        func pruner(now: String = "2025-03-01T00:00:00Z", reader: String? = nil) -> BackupPruner {
            var logger = Logger(label: "test")
            logger.logLevel = .error
            let date = try! Date(now, strategy: .iso8601)
            let backups = scheduler.backups
            return BackupPruner(catalog: catalog, logger: logger, now: { date }, isBackingUp: { await backups.isBackingUp(vmName: $0) },
                                readerOf: { $0 == "vm" ? reader : nil })
        }

        func directory(_ id: String) -> String {
            BackupLayout(repositoryRoot: scheduler.folder + "/repository", vmName: "vm").backupDirectory(id)
        }

        /// Every point still in the catalog restores as the disk was then; the chain's images are clean.
        func expectKeptPointsRestore() async throws {
            for record in try await catalog.chain(vmName: "vm", repositoryID: scheduler.repositoryID) {
                let raw = try #require(points.first { $0.id == record.backupId }?.raw)
                let image = directory(record.backupId) + "/disk-0.qcow2"
                let check = try tool(["qemu-img", "check", image])
                #expect(check.status == 0 && check.output.contains("No errors"), "\(record.backupId): \(check.output)")
                let compare = try tool(["qemu-img", "compare", "-F", "raw", image, raw])
                #expect(compare.status == 0, "\(record.backupId): \(compare.output)")
                let manifest = try BackupManifest.read(from: directory(record.backupId))
                #expect(manifest.parentId == record.parentBackupId && manifest.backupType == record.backupType)
            }
        }
    }

    @Test("keep_last 3 over 6 points: the oldest 3 fold into the 4th, which becomes the full")
    func keepLast() async throws {
        var lab = try await Lab()
        for day in 1...6 { try await lab.backup(at: "2025-02-0\(day)T02:00:00Z") }
        let pruner = lab.pruner()
        let dry = try await pruner.prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 3), dryRun: true)
        #expect(dry.removed == lab.points.prefix(3).map(\.id))
        #expect(dry.merged == [lab.points[3].id: [lab.points[2].id, lab.points[1].id, lab.points[0].id]])
        #expect(try await lab.catalog.chain(vmName: "vm", repositoryID: lab.scheduler.repositoryID).count == 6, "a dry run changes nothing")

        // While an instant recovery runs from one of the VM's points (or a restore reads one), its chain is left as it is.
        let held = try await lab.pruner(reader: "instant recovery recovery-1").prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 3))
        #expect(held.removed.isEmpty && held.skipped?.contains("recovery-1") == true, "\(held)")
        #expect(try await lab.catalog.chain(vmName: "vm", repositoryID: lab.scheduler.repositoryID).count == 6)

        let heard = Mutex<[Double]>([])
        let report = try await pruner.prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 3)) { percent in
            heard.withLock { $0.append(percent) }
        }
        #expect(report.kept == lab.points.suffix(3).map(\.id))
        // The merge is heard along the way, rising by whole percents, ending at 100.
        let percents = heard.withLock { $0 }
        #expect(percents.count > 2 && percents.last == 100, "\(percents)")
        #expect(percents == percents.sorted() && Set(percents).count == percents.count, "\(percents)")
        let chain = try await lab.catalog.chain(vmName: "vm", repositoryID: lab.scheduler.repositoryID)
        #expect(chain.map(\.backupId) == lab.points.suffix(3).map(\.id))
        #expect(chain.map(\.backupType) == [.full, .incremental, .incremental])
        #expect(chain.first?.parentBackupId == nil)
        for removed in lab.points.prefix(3) { #expect(!FileManager.default.fileExists(atPath: lab.directory(removed.id))) }
        try await lab.expectKeptPointsRestore()
        let info = try mustRun(["qemu-img", "info", "--output=json", lab.directory(lab.points[3].id) + "/disk-0.qcow2"])
        #expect(!info.contains("backing-filename"))
        // The merged point verifies against its rewritten manifest.
        let verify = try BackupVerifier.verify(backupDirectory: lab.directory(lab.points[3].id))
        #expect(verify.ok, "\(verify)")
        // A next incremental still builds on the newest point.
        try await lab.backup(at: "2025-02-07T02:00:00Z")
        try await lab.expectKeptPointsRestore()
    }

    @Test("points removed from the middle fold into the next kept point, which keeps its kept parent")
    func middle() async throws {
        var lab = try await Lab()
        // Week 6 of 2025: Mon 3, Tue 4; week 7: Mon 10, Tue 11, Wed 12; week 8: Mon 17.
        for date in ["2025-02-03", "2025-02-04", "2025-02-10", "2025-02-11", "2025-02-12", "2025-02-17"] {
            try await lab.backup(at: date + "T02:00:00Z")
        }
        let p = lab.points.map(\.id)
        let report = try await lab.pruner().prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 1, keepWeekly: 2))
        #expect(report.kept == [p[1], p[4], p[5]])
        #expect(report.merged == [p[1]: [p[0]], p[4]: [p[3], p[2]]])
        let chain = try await lab.catalog.chain(vmName: "vm", repositoryID: lab.scheduler.repositoryID)
        #expect(chain.map(\.parentBackupId) == [nil, p[1], p[4]])
        try await lab.expectKeptPointsRestore()
    }

    @Test("an immutable repository keeps young points, and the points a young one builds on")
    func immutable() async throws {
        var lab = try await Lab()
        for day in 1...5 { try await lab.backup(at: "2025-02-2\(day)T02:00:00Z") }
        let queue = try DatabaseQueue(path: lab.scheduler.folder + "/catalog.sqlite")
        try await queue.write { db in try db.execute(sql: "UPDATE repositories SET immutable_days = 7") }
        // Now is 1 March: points of 21 and 22 February are over 7 days old, the rest are not.
        let report = try await lab.pruner(now: "2025-03-01T00:00:00Z").prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 1))
        // Removing 21 and 22 would rewrite 23 (immutable): nothing can go yet.
        #expect(report.removed.isEmpty)
        #expect(report.immutableUntil.count == 4)
        #expect(report.immutableUntil[lab.points[2].id] == (try Date("2025-03-02T02:00:00Z", strategy: .iso8601)))
        #expect(try await lab.catalog.chain(vmName: "vm", repositoryID: lab.scheduler.repositoryID).count == 5)
        // On 3 March the 25th is still young, so the 24th (which it builds on) stays; 21-23 fold into the 24th.
        let later = try await lab.pruner(now: "2025-03-03T12:00:00Z").prune(vmName: "vm", repositoryID: lab.scheduler.repositoryID, policy: .init(keepLast: 1))
        #expect(later.removed == lab.points.prefix(3).map(\.id))
        #expect(later.immutableUntil == [lab.points[3].id: try Date("2025-03-04T02:00:00Z", strategy: .iso8601)])
        #expect(later.merged == [lab.points[3].id: [lab.points[2].id, lab.points[1].id, lab.points[0].id]])
        try await lab.expectKeptPointsRestore()
    }
}
