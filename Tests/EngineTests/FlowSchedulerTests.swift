import Catalog
import Engine
import Foundation
import Logging
import Repository
import SendenseCore
import Synchronization
import TestSupport
import Testing

/// The scheduler over a real catalog file and real backups of small qcow2
/// VMs, with the clock in the test's hand: days of schedules in moments.
@Suite(.serialized, .removesScratch) struct FlowSchedulerTests {
    final class TestClock: Sendable {
        private let current: Mutex<Date>
        init(_ start: String) { current = Mutex(try! Date(start, strategy: .iso8601)) }
        var now: Date { current.withLock { $0 } }
        func set(_ text: String) { current.withLock { $0 = try! Date(text, strategy: .iso8601) } }
        func advance(hours: Double) { current.withLock { $0 = $0.addingTimeInterval(hours * 3600) } }
    }

    struct Lab {
        let catalog: CatalogDatabase
        let backups: BackupService
        let repositoryID: Int64
        let folder = scratchFolder()
        let clock: TestClock

        init(vms: [String], start: String = "2025-10-01T00:00:00Z") async throws {
            clock = TestClock(start)
            catalog = try CatalogDatabase(path: folder + "/catalog.sqlite")
            let repository = folder + "/repository"
            let descriptor = try LocalRepository.prepare(at: repository)
            repositoryID = try await catalog.insertRepository(RepositoryRecord(name: "local", type: .local, path: repository,
                                                                               repositoryUuid: descriptor.id)).id ?? 0
            var logger = Logger(label: "test")
            logger.logLevel = .error
            backups = BackupService(catalog: catalog, runDirectory: folder, logger: logger)
            for name in vms {
                let image = folder + "/\(name).qcow2"
                try mustRun(["qemu-img", "create", "-q", "-f", "qcow2", image, "8M"])
                try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -P 0x42 0 1M", image])
                let context = VMContextRecord(contextId: "ctx-\(name)", vmName: name, sourceType: .qemuImage)
                try await catalog.insertVMContext(context, disks: [VMDiskRecord(contextId: context.contextId, diskIndex: 0, label: "vda", capacityBytes: 8 << 20, path: image)])
            }
        }

        func scheduler(max: Int = 4) -> FlowScheduler {
            var logger = Logger(label: "test")
            logger.logLevel = .error
            let clock = self.clock
            return FlowScheduler(catalog: catalog, backups: backups, maxConcurrentBackups: max, now: { clock.now }, logger: logger)
        }

        func flow(_ name: String, target: (String, String), schedule: String, fullEvery: Int? = nil) async throws -> ProtectionFlowRecord {
            try await catalog.saveProtectionFlow(ProtectionFlowRecord(
                name: name, targetType: target.0, targetId: target.1, repositoryId: repositoryID, schedule: schedule, timeZone: "UTC",
                backupType: .incremental, fullEvery: fullEvery, fullWeekly: false, enabled: true))
        }

        func group(_ name: String, _ vms: [String]) async throws -> Int64 {
            try await catalog.saveProtectionGroup(ProtectionGroupRecord(name: name, description: nil), vmNames: vms).id ?? 0
        }
    }

    @Test("a daily flow runs at its time; three missed days run once; next run is the next slot after now")
    func dailyAndMissed() async throws {
        let lab = try await Lab(vms: ["web"])
        let flow = try await lab.flow("nightly", target: ("vm", "web"), schedule: "0 2 * * *")
        let scheduler = lab.scheduler()
        await scheduler.tick()
        #expect(try await lab.catalog.protectionFlow(id: flow.id!)?.nextRunAt == (try Date("2025-10-01T02:00:00Z", strategy: .iso8601)))
        #expect(try await lab.catalog.executions(flowID: flow.id!).isEmpty)

        lab.clock.set("2025-10-01T02:00:30Z")
        await scheduler.tick()
        await scheduler.drain()
        var executions = try await lab.catalog.executions(flowID: flow.id!)
        #expect(executions.map(\.0.status) == [.completed])
        #expect(executions.first?.1.first?.status == .completed)

        // The hub was down for three nights: one run, then the next night.
        lab.clock.set("2025-10-04T09:00:00Z")
        await scheduler.tick()
        await scheduler.tick()
        await scheduler.drain()
        executions = try await lab.catalog.executions(flowID: flow.id!)
        #expect(executions.count == 2)
        #expect(try await lab.catalog.protectionFlow(id: flow.id!)?.nextRunAt == (try Date("2025-10-05T02:00:00Z", strategy: .iso8601)))
        let chain = try await lab.catalog.chain(vmName: "web", repositoryID: lab.repositoryID)
        #expect(chain.map(\.backupType) == [.full, .incremental])
    }

    @Test("a week of 4-hourly runs with a full every 3rd backup, simulated in moments")
    func fullEvery() async throws {
        let lab = try await Lab(vms: ["db"])
        let flow = try await lab.flow("4h", target: ("vm", "db"), schedule: "every 4h", fullEvery: 3)
        let scheduler = lab.scheduler()
        await scheduler.tick()  // next run: in 4 hours
        for _ in 0..<6 {
            lab.clock.advance(hours: 4)
            await scheduler.tick()
            await scheduler.drain()
        }
        let chain = try await lab.catalog.chain(vmName: "db", repositoryID: lab.repositoryID)
        #expect(chain.map(\.backupType) == [.full, .incremental, .incremental, .full, .incremental, .incremental])
        #expect(try await lab.catalog.executions(flowID: flow.id!).count == 6)
    }

    @Test("at most N backups at once hub-wide, VMs of flows taken in turn, never two of one VM")
    func concurrencyFairnessAndSkips() async throws {
        let names = ["a1", "a2", "a3", "a4", "a5", "b1"]
        let lab = try await Lab(vms: names)
        let groupA = try await lab.group("big", ["a1", "a2", "a3", "a4", "a5"])
        let big = try await lab.flow("big", target: ("group", String(groupA)), schedule: "0 3 * * *")
        let small = try await lab.flow("small", target: ("vm", "b1"), schedule: "0 3 * * *")
        let overlap = try await lab.flow("overlap", target: ("vm", "a5"), schedule: "0 4 * * *")
        let scheduler = lab.scheduler(max: 2)
        _ = try await scheduler.execute(big)
        _ = try await scheduler.execute(small)
        _ = try await scheduler.execute(overlap)
        await scheduler.drain()

        // Never more than two at once: a sweep over the recorded start and end times.
        var jobs: [BackupJobRecord] = []
        for name in names { jobs += try await lab.catalog.chain(vmName: name, repositoryID: lab.repositoryID) }
        #expect((6...7).contains(jobs.count), "a5 may run a second time, after its first backup")
        var events: [(Date, Int)] = []
        for job in jobs {
            events.append((job.startedAt ?? job.createdAt, 1))
            events.append((try #require(job.completedAt), -1))
        }
        var current = 0, peak = 0
        for event in events.sorted(by: { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }) {
            current += event.1
            peak = max(peak, current)
        }
        #expect(peak == 2)
        // The small flow's VM did not wait behind the whole group: it took the first slot that freed.
        let order = jobs.sorted { ($0.createdAt, $0.backupId) < ($1.createdAt, $1.backupId) }.map(\.vmName)
        #expect((order.firstIndex(of: "b1") ?? 99) <= 3, "\(order)")
        // a5 was queued twice; the second one either ran after the first or was skipped, never alongside it.
        let overlapRun = try #require(try await lab.catalog.executions(flowID: overlap.id!).first)
        #expect([FlowRunState.completed, .skipped].contains(overlapRun.0.status))
        if overlapRun.0.status == .skipped { #expect(overlapRun.1.first?.errorMessage == "skipped: backup already running") }
    }

    @Test("a disabled flow never runs; a flow whose VM is gone records a failure and goes on")
    func disabledAndMissingVM() async throws {
        let lab = try await Lab(vms: ["x"])
        var flow = try await lab.flow("off", target: ("vm", "x"), schedule: "every 1h")
        flow.enabled = false
        flow = try await lab.catalog.saveProtectionFlow(flow)
        let gone = try await lab.flow("gone", target: ("vm", "nope"), schedule: "every 1h")
        let scheduler = lab.scheduler()
        await scheduler.tick()
        lab.clock.advance(hours: 2)
        await scheduler.tick()
        await scheduler.drain()
        #expect(try await lab.catalog.executions(flowID: flow.id!).isEmpty)
        #expect(try await lab.catalog.executions(flowID: gone.id!).map(\.0.status) == [.skipped])
    }
}
