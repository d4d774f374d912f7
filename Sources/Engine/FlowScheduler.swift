import Catalog
import Foundation
import Logging
import SendenseCore

/// Runs protection flows: computes each flow's next run, starts due flows
/// (a schedule missed while the hub was down runs once, not once per missed
/// slot), queues their VMs fairly (round robin across running executions),
/// keeps at most `maxConcurrentBackups` backups running hub-wide, never two
/// of one VM (recorded "skipped: backup already running"), and applies the
/// flow's retention when an execution ends. Time comes from `now`, so tests
/// drive days of schedules in milliseconds.
public actor FlowScheduler {
    public typealias Clock = @Sendable () -> Date
    /// Prunes the restore points of one VM in one repository after a flow ran.
    public typealias Pruner = @Sendable (_ vmName: String, _ repositoryID: Int64, _ policy: RetentionPolicy, _ timeZone: TimeZone) async -> Void
    /// Starts the boot check of a restore point a flow with `boot_check` completed.
    public typealias BootChecker = @Sendable (_ backupID: String, _ flowName: String) async -> Void

    let catalog: CatalogDatabase
    let backups: BackupService
    let maxConcurrentBackups: Int
    let now: Clock
    let pruner: Pruner?
    let bootChecker: BootChecker?
    let logger: Logger

    private struct Queued {
        var executionID: Int64
        var flow: ProtectionFlowRecord
        var vmName: String
    }

    /// VMs waiting, per execution, in the order executions started.
    private var queues: [(executionID: Int64, items: [Queued])] = []
    /// Backups this scheduler started and has not seen end, by backup id.
    private var running: [String: Queued] = [:]
    private var unfinished: [Int64: (flow: ProtectionFlowRecord, remaining: Int)] = [:]
    /// One per backup started, gone when it ended: what `drain()` waits for.
    private var waiters: [String: Task<Void, Never>] = [:]
    /// pump() awaits between checking for a free slot and taking it; a second
    /// pump meanwhile would take the same slot. One runs at a time, and runs
    /// again when asked while busy.
    private var pumping = false
    private var pumpAgain = false

    public init(catalog: CatalogDatabase, backups: BackupService, maxConcurrentBackups: Int = 4,
                now: @escaping Clock = { Date() }, pruner: Pruner? = nil, bootChecker: BootChecker? = nil, logger: Logger) {
        self.catalog = catalog
        self.backups = backups
        self.maxConcurrentBackups = max(1, maxConcurrentBackups)
        self.now = now
        self.pruner = pruner
        self.bootChecker = bootChecker
        self.logger = logger
    }

    /// The first run of `flow` after `date`, nil when its schedule never fires.
    public static func nextRun(of flow: ProtectionFlowRecord, after date: Date) -> Date? {
        (try? Schedule(flow.schedule, timeZone: flow.timeZone))?.next(after: date)
    }

    /// One pass: gives new flows their next run, starts the due ones, and
    /// fills free backup slots. Called every few seconds by the hub.
    public func tick() async {
        let date = now()
        do {
            for flow in try await catalog.protectionFlows() where flow.enabled && flow.nextRunAt == nil {
                try await catalog.setFlowRuns(flow.id ?? 0, next: Self.nextRun(of: flow, after: date), last: nil)
            }
            for flow in try await catalog.dueFlows(at: date) {
                // Due once, however many slots were missed: the next run is after now.
                try await catalog.setFlowRuns(flow.id ?? 0, next: Self.nextRun(of: flow, after: date), last: date)
                _ = try await enqueue(flow, trigger: "schedule", at: date)
            }
        } catch {
            logger.error("scheduler pass failed: \(error)")
        }
        await pump()
    }

    /// `POST /protection-flows/{id}/execute`: runs the flow now.
    public func execute(_ flow: ProtectionFlowRecord) async throws -> FlowExecutionRecord {
        let date = now()
        try await catalog.setFlowRuns(flow.id ?? 0, next: flow.nextRunAt, last: date)
        let execution = try await enqueue(flow, trigger: "manual", at: date)
        await pump()
        return execution
    }

    /// Whether any execution still has VMs queued or running.
    public var isIdle: Bool { queues.isEmpty && running.isEmpty && unfinished.isEmpty }

    /// Waits until every started backup ended and its execution was recorded (tests, shutdown).
    public func drain() async {
        while !isIdle {
            let current = Array(waiters.values)
            for waiter in current { await waiter.value }
            if current.isEmpty { await pump() }
            if current.isEmpty && !isIdle { try? await Task.sleep(for: .milliseconds(10)) }
        }
    }

    private func enqueue(_ flow: ProtectionFlowRecord, trigger: String, at date: Date) async throws -> FlowExecutionRecord {
        let names = try await catalog.vmNames(coveredBy: flow)
        let execution = try await catalog.startExecution(flowID: flow.id ?? 0, trigger: trigger, vmNames: names, now: date)
        let id = execution.id ?? 0
        if names.isEmpty {
            _ = try await catalog.finishExecution(id, now: date)
            logger.warning("flow \(flow.name) covers no VM: nothing to run")
            return execution
        }
        queues.append((id, names.map { Queued(executionID: id, flow: flow, vmName: $0) }))
        unfinished[id] = (flow, names.count)
        logger.info("flow \(flow.name) started (\(trigger)): \(names.count) VM(s)")
        return execution
    }

    /// Starts queued VMs while slots are free, taking one VM from each
    /// execution in turn so a large group cannot starve a small flow.
    private func pump() async {
        guard !pumping else {
            pumpAgain = true
            return
        }
        pumping = true
        defer { pumping = false }
        repeat {
            pumpAgain = false
            while await backups.runningCount() < maxConcurrentBackups, !queues.isEmpty {
                let item = queues[0].items.removeFirst()
                let execution = queues.removeFirst()
                if !execution.items.isEmpty { queues.append(execution) }
                await start(item)
            }
        } while pumpAgain
    }

    private func start(_ item: Queued) async {
        let flow = item.flow
        var row = FlowExecutionVMRecord(executionId: item.executionID, vmName: item.vmName, status: .running)
        if await backups.isBackingUp(vmName: item.vmName) {
            row.status = .skipped
            row.errorMessage = "skipped: backup already running"
            try? await catalog.updateExecutionVM(row)
            await vmDone(executionID: item.executionID)
            return
        }
        do {
            let incremental = try await wantsIncremental(flow, vmName: item.vmName)
            let started = try await backups.start(.init(vmName: item.vmName, repositoryID: flow.repositoryId, incremental: incremental, diskIndexes: nil))
            let backupID = started.job.backupId
            row.backupId = backupID
            try? await catalog.updateExecutionVM(row)
            running[backupID] = item
            let waiter = Task { [backups] in
                await backups.wait(for: backupID)
                await self.ended(backupID)
            }
            waiters[backupID] = waiter
        } catch {
            row.status = .failed
            row.errorMessage = "\(error)"
            try? await catalog.updateExecutionVM(row)
            await vmDone(executionID: item.executionID)
        }
    }

    /// Incremental unless the flow asks for fulls, or for a full every N
    /// backups, or weekly, and this one is due.
    private func wantsIncremental(_ flow: ProtectionFlowRecord, vmName: String) async throws -> Bool {
        guard flow.backupType == .incremental else { return false }
        let chain = try await catalog.chain(vmName: vmName, repositoryID: flow.repositoryId)
        guard let lastFull = chain.lastIndex(where: { $0.backupType == .full }) else { return true }
        let sinceFull = chain.count - 1 - lastFull
        if let every = flow.fullEvery, every > 0, sinceFull + 1 >= every { return false }
        if flow.fullWeekly, now().timeIntervalSince(chain[lastFull].createdAt) >= 7 * 86400 - 3600 { return false }
        return true
    }

    private func ended(_ backupID: String) async {
        waiters[backupID] = nil
        guard let item = running.removeValue(forKey: backupID) else { return }
        let record = try? await catalog.backup(id: backupID)
        var row = FlowExecutionVMRecord(executionId: item.executionID, vmName: item.vmName,
                                        status: record?.status == .completed ? .completed : .failed, backupId: backupID)
        row.errorMessage = record?.status == .completed ? nil : (record?.errorMessage ?? "the backup ended \(record?.status.rawValue ?? "unrecorded")")
        try? await catalog.updateExecutionVM(row)
        // Started before retention runs: the check holds its point, so retention cannot take it meanwhile.
        if record?.status == .completed, item.flow.bootCheck, let bootChecker { await bootChecker(backupID, item.flow.name) }
        await vmDone(executionID: item.executionID)
        await pump()
    }

    private func vmDone(executionID: Int64) async {
        guard var entry = unfinished[executionID] else { return }
        entry.remaining -= 1
        guard entry.remaining == 0 else {
            unfinished[executionID] = entry
            return
        }
        unfinished[executionID] = nil
        let execution = try? await catalog.finishExecution(executionID, now: now())
        logger.info("flow \(entry.flow.name) execution \(executionID) ended: \(execution?.status.rawValue ?? "?")")
        await applyRetention(entry.flow)
    }

    private func applyRetention(_ flow: ProtectionFlowRecord) async {
        let policy = flow.retention
        guard let pruner, !policy.keepsEverything,
              let names = try? await catalog.vmNames(coveredBy: flow) else { return }
        let zone = TimeZone(identifier: flow.timeZone) ?? .gmt
        for name in names { await pruner(name, flow.repositoryId, policy, zone) }
    }
}
