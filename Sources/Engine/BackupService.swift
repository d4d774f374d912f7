import BackupSources
import Catalog
import Foundation
import Logging
import Repository
import SendenseCore
import Synchronization

/// Starts backup jobs, keeps their progress, persists it to the catalog at
/// least once a second, cancels them, and records how they end. A backup's
/// checkpoints enter the catalog only after the repository holds it.
public actor BackupService {
    public struct StartRequest: Sendable {
        public var vmName: String
        public var repositoryID: Int64
        public var incremental: Bool
        public var diskIndexes: [Int]?

        public init(vmName: String, repositoryID: Int64, incremental: Bool, diskIndexes: [Int]?) {
            self.vmName = vmName
            self.repositoryID = repositoryID
            self.incremental = incremental
            self.diskIndexes = diskIndexes
        }
    }

    public struct Started: Sendable {
        public var job: BackupJobRecord
        public var contextID: String
        public var disks: [BackupDiskRecord]
    }

    private struct Running {
        var task: Task<Void, Never>
        var progress: BackupProgress
        var vmName: String
        /// Progress as last looked at, and since when it has not moved.
        var lastProgress: BackupProgress.Snapshot?
        var unchangedSince = ContinuousClock.now
        /// Why the hub (not a user) cancelled it: the job then fails with this.
        var failureReason: String?
    }

    let catalog: CatalogDatabase
    /// Where sessions put their NBD sockets.
    let runDirectory: String
    let logger: Logger
    let progressInterval: Duration
    let vmwareSources: VMwareSourceProvider?
    let processLog: (any ChildProcessLog)?
    /// A telemetry sample this often while a backup runs (nil: none).
    let telemetryInterval: Duration?
    let events: (any BackupEventSink)?
    /// The registry that lists and cancels every kind of job.
    let jobs: Jobs?
    private var running: [String: Running] = [:]
    private var shuttingDown = false

    /// Builds the source of a VMware VM (the hub holds and decrypts its
    /// vCenter credential); throws `BackupError.sourceUnavailable` when it cannot.
    public typealias VMwareSourceProvider = @Sendable (_ context: VMContextRecord, _ disks: [VMDiskRecord], _ runDirectory: String) async throws -> any BackupSource

    public init(catalog: CatalogDatabase, runDirectory: String, logger: Logger, progressInterval: Duration = .seconds(1),
                vmwareSources: VMwareSourceProvider? = nil, processLog: (any ChildProcessLog)? = nil,
                telemetryInterval: Duration? = .seconds(10), events: (any BackupEventSink)? = nil, jobs: Jobs? = nil) {
        self.jobs = jobs
        self.processLog = processLog
        self.telemetryInterval = telemetryInterval
        self.events = events
        self.catalog = catalog
        self.runDirectory = runDirectory
        self.logger = logger
        self.progressInterval = progressInterval
        self.vmwareSources = vmwareSources
    }

    public func start(_ request: StartRequest) async throws -> Started {
        guard let context = try await catalog.vmContext(named: request.vmName) else {
            throw BackupError.vmNotFound(request.vmName)
        }
        guard let repository = try await catalog.repository(id: request.repositoryID) else {
            throw BackupError.repositoryNotFound(request.repositoryID)
        }
        guard repository.enabled else { throw BackupError.repositoryDisabled(repository.name) }
        let vmDisks = try await catalog.disks(ofContext: context.contextId)
        var chosen = vmDisks
        if let indexes = request.diskIndexes {
            guard !indexes.isEmpty else { throw BackupError.noDiskChosen }
            for index in indexes where !vmDisks.contains(where: { $0.diskIndex == index }) {
                throw BackupError.diskNotFound(vmName: request.vmName, index: index)
            }
            chosen = vmDisks.filter { indexes.contains($0.diskIndex) }
        }
        let source = try await source(for: context, disks: chosen)

        var note: String?
        var parent: BackupJob.Parent?
        // The chain head: an incremental builds on it; any new backup replaces its checkpoints.
        var head: BackupJob.Parent?
        if let last = try await catalog.lastCompletedBackup(vmName: context.vmName, repositoryID: request.repositoryID) {
            let checkpoints = try await catalog.backupDisks(of: last.backupId).reduce(into: [Int: String]()) { map, disk in
                if let checkpoint = disk.checkpoint { map[disk.diskIndex] = checkpoint }
            }
            head = BackupJob.Parent(backupID: last.backupId, checkpoints: checkpoints)
        }
        if request.incremental {
            parent = head
            if head == nil { note = "no earlier completed backup of \(context.vmName) in repository \(repository.name): this backup is full" }
        }

        let vmKey = BackupLayout.vmKey(for: context.vmName)
        let now = Date()
        var backupID = "backup-\(vmKey)-\(Int(now.timeIntervalSince1970))"
        if try await catalog.backup(id: backupID) != nil || running[backupID] != nil {
            backupID += "-" + String(UUID().uuidString.prefix(6)).lowercased()
        }
        let layout = BackupLayout(repositoryRoot: repository.path, vmKey: vmKey)
        let job = BackupJobRecord(
            backupId: backupID, vmBackupContextId: 0, repositoryId: request.repositoryID, vmName: context.vmName,
            backupType: parent == nil ? .full : .incremental, parentBackupId: parent?.backupID, note: note, createdAt: now)
        let diskRows = chosen.map {
            BackupDiskRecord(backupId: backupID, diskIndex: $0.diskIndex, capacityBytes: $0.capacityBytes,
                             qcow2Path: layout.backupDirectory(backupID) + "/" + BackupLayout.diskFileName(index: $0.diskIndex))
        }
        let inserted: BackupJobRecord
        do {
            inserted = try await catalog.insertStartedBackup(job, contextID: context.contextId, vmKey: vmKey, disks: diskRows)
        } catch let error as CatalogError {
            throw BackupError.alreadyRunning(error.description)
        }

        var backupJob = BackupJob(
            backupID: backupID,
            vm: .init(name: context.vmName, sourceType: context.sourceType, identity: Self.identity(of: context, disks: vmDisks)),
            repositoryRoot: repository.path, parent: parent)
        backupJob.replacesCheckpoints = head?.checkpoints ?? [:]
        backupJob.note = note
        let progress = backupJob.progress
        // Held by the registry before it can end, so its release always comes after.
        await jobs?.adopt(backupID, percent: { progress.snapshot.percent }, cancel: { [backupID] in await self.cancel(backupID) })
        // The data path writes images with blocking calls: into a share, on the
        // blocking pool (a hung share cannot hold a cooperative thread).
        let task = Task(executorPreference: repository.type.jobExecutor) { await self.execute(backupJob, source: source) }
        running[backupID] = Running(task: task, progress: progress, vmName: context.vmName)
        await events?.publish(.started(backupID: backupID, vmName: context.vmName, backupType: inserted.backupType))
        return Started(job: inserted, contextID: context.contextId, disks: diskRows)
    }

    /// Live progress of a running backup, nil when it is not running here.
    public func progress(of backupID: String) -> BackupProgress.Snapshot? { running[backupID]?.progress.snapshot }

    public func isRunning(_ backupID: String) -> Bool { running[backupID] != nil }

    /// Whether a backup of this VM runs now.
    public func isBackingUp(vmName: String) -> Bool { running.values.contains { $0.vmName == vmName } }

    /// How many backups run now, whoever started them.
    public func runningCount() -> Int { running.count }

    /// Cancels a running backup; answers false when it is not running.
    @discardableResult
    public func cancel(_ backupID: String) -> Bool {
        guard let job = running[backupID] else { return false }
        job.task.cancel()
        return true
    }

    /// Backups whose progress (bytes and phase) has not moved for `threshold`:
    /// each call compares with what the previous one saw.
    public func stalledBackups(after threshold: Duration) -> [String] {
        let now = ContinuousClock.now
        var stalled: [String] = []
        for (id, job) in running {
            let snapshot = job.progress.snapshot
            if snapshot != job.lastProgress {
                running[id]?.lastProgress = snapshot
                running[id]?.unchangedSince = now
            } else if now - job.unchangedSince >= threshold {
                stalled.append(id)
            }
        }
        return stalled.sorted()
    }

    /// Cancels a running backup on the hub's behalf: it ends failed with `reason`.
    @discardableResult
    public func fail(_ backupID: String, reason: String) -> Bool {
        guard let job = running[backupID] else { return false }
        running[backupID]?.failureReason = reason
        job.task.cancel()
        return true
    }

    /// Waits until a backup has ended (for tests and shutdown).
    public func wait(for backupID: String) async {
        await running[backupID]?.task.value
    }

    /// Cancels every running backup and waits for them to clean up.
    public func shutdown() async {
        shuttingDown = true
        let jobs = running.values
        for job in jobs { job.task.cancel() }
        for job in jobs { await job.task.value }
    }

    /// Live progress of every running backup, for the event stream.
    public func runningProgress() -> [(backupID: String, vmName: String, progress: BackupProgress.Snapshot)] {
        running.map { ($0.key, $0.value.vmName, $0.value.progress.snapshot) }.sorted { $0.backupID < $1.backupID }
    }

    private func execute(_ job: BackupJob, source: any BackupSource) async {
        let backupID = job.backupID
        let sampler = TelemetrySampler()
        // Progress to the catalog every second; a telemetry sample every
        // `telemetryInterval`. Both read the copiers' counters under a lock:
        // nothing here waits on the data path.
        // A sample, once taken, is written even if the reporter is being
        // stopped (GRDB refuses work in a cancelled task): the sampler has
        // already measured the next speed from it, and the roll-up must see it.
        @Sendable func record(_ sample: TelemetrySample) async {
            await Task { [catalog] in try? await catalog.recordTelemetry(jobID: backupID, sample) }.value
        }
        let reporter = Task { [catalog, progressInterval, telemetryInterval] in
            var lastSample = ContinuousClock.now
            if telemetryInterval != nil { await record(sampler.sample(job.progress.snapshot)) }
            let tick = min(progressInterval, telemetryInterval ?? progressInterval)
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                guard !Task.isCancelled else { break }
                let snapshot = job.progress.snapshot
                await Self.persist(snapshot, of: backupID, catalog: catalog)
                if let telemetryInterval, ContinuousClock.now - lastSample >= telemetryInterval {
                    lastSample = .now
                    await record(sampler.sample(snapshot))
                }
            }
        }
        // However the job ends: the final sample, the roll-up, the event.
        func finish(status: BackupStatus, error: String?) async {
            if telemetryInterval != nil {
                let final = sampler.sample(job.progress.snapshot)
                _ = try? await Task { [catalog] in try await catalog.rollUpTelemetry(backupID: backupID, final: final) }.value
            }
            await events?.publish(.ended(backupID: backupID, vmName: job.vm.name, status: status, error: error))
        }
        do {
            let manifest = try await job.run(source: source)
            // Stopped and finished before the row's final state and the roll-up are written.
            reporter.cancel()
            await reporter.value
            let snapshot = job.progress.snapshot
            let note = ([job.note, manifest.consistencyNote] + manifest.disks.map(\.note)).compactMap { $0 }.joined(separator: "; ").nilIfEmpty
            let disks = manifest.disks.map { CompletedDisk(diskIndex: $0.index, bytesTransferred: Int64($0.bytesWritten), checkpoint: $0.checkpoint) }
            // The backup is committed: its row must say so even if a cancel
            // came too late. GRDB refuses work in a cancelled task, so the
            // bookkeeping runs in one of its own.
            try await Task { [catalog] in
                try await catalog.completeBackup(
                    backupID, type: manifest.backupType, parentID: manifest.parentId, note: note, consistency: manifest.consistency,
                    bytes: Int64(snapshot.bytesTransferred), total: Int64(snapshot.totalBytes), disks: disks)
            }.value
            logger.info("backup \(backupID) completed: \(manifest.backupType), \(snapshot.bytesTransferred) bytes")
            await finish(status: .completed, error: nil)
        } catch {
            // Stopped and finished before the row's final state and the roll-up are written.
            reporter.cancel()
            await reporter.value
            let reason = running[backupID]?.failureReason
            let cancelled = (error is CancellationError || Task.isCancelled) && !shuttingDown && reason == nil
            let message = shuttingDown ? "interrupted by hub shutdown" : reason ?? (cancelled ? "cancelled by user" : JobFailure.describe(error))
            let status: BackupStatus = cancelled ? .cancelled : .failed
            do {
                try await Task { [catalog] in
                    try await catalog.endBackup(backupID, status: status, error: message)
                }.value
            } catch {
                logger.error("cannot record the end of backup \(backupID): \(error)")
            }
            logger.error("backup \(backupID) \(status.rawValue): \(message)")
            await finish(status: status, error: message)
        }
        running[backupID] = nil
        await jobs?.release(backupID)
    }

    private static func persist(_ snapshot: BackupProgress.Snapshot, of backupID: String, catalog: CatalogDatabase) async {
        let disks = snapshot.disks.map { DiskProgressUpdate(diskIndex: $0.key, status: $0.value.status, bytesTransferred: Int64($0.value.bytesTransferred)) }
        try? await catalog.updateBackupProgress(backupID, phase: snapshot.phase, bytes: Int64(snapshot.bytesTransferred),
                                                total: Int64(snapshot.totalBytes), disks: disks)
    }

    /// What a catalog rebuild needs to recreate the VM context from the
    /// manifest alone: where the VM lives and each disk's location.
    static func identity(of context: VMContextRecord, disks: [VMDiskRecord]) -> [String: String] {
        var identity = ["context_id": context.contextId]
        let fields: [(String, String?)] = [("vm_path", context.vmPath), ("vcenter_host", context.vcenterHost), ("datacenter", context.datacenter),
                                           ("moref", context.moref), ("instance_uuid", context.instanceUuid), ("os_type", context.osType)]
        for (key, value) in fields { if let value { identity[key] = value } }
        if let cpus = context.cpuCount { identity["cpu_count"] = String(cpus) }
        // A libvirt domain's URI, UUID and disk targets, a QEMU's QMP socket and devices: a rebuilt catalog backs it up again.
        if [.libvirt, .qmp].contains(context.sourceType), let json = context.sourceJson { identity["source_json"] = json }
        if let memory = context.memoryMb { identity["memory_mb"] = String(memory) }
        for disk in disks {
            identity["disk.\(disk.diskIndex).path"] = disk.path
            if let key = disk.vmwareDiskKey { identity["disk.\(disk.diskIndex).key"] = String(key) }
            if let datastore = disk.datastore { identity["disk.\(disk.diskIndex).datastore"] = datastore }
        }
        return identity
    }

    /// The source a VM context describes.
    private func source(for context: VMContextRecord, disks: [VMDiskRecord]) async throws -> any BackupSource {
        switch context.sourceType {
        case .qemuImage:
            var source = QemuImageSource(
                disks: disks.map { QemuImageSource.Disk(index: $0.diskIndex, path: $0.path, label: $0.label) },
                socketDirectory: runDirectory)
            source.processLog = processLog
            return source
        case .libvirt:
            var source = try LibvirtInventory.source(for: context, disks: disks, runDirectory: runDirectory)
            source.processLog = processLog
            return source
        case .qmp:
            return try QMPInventory.source(for: context, disks: disks, runDirectory: runDirectory)
        case .vmware:
            guard let vmwareSources else { throw BackupError.sourceUnavailable("this hub cannot reach vCenter") }
            return try await vmwareSources(context, disks, runDirectory)
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
