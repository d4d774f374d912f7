import Catalog
import Foundation
import Libvirt
import Logging
import Repository
import SendenseCore

/// Boot verification: a restore point's VM started in a sandbox (an instant
/// recovery with no NIC and a screen), watched until its guest shows a
/// heartbeat (the guest agent answers, or a text on its serial console),
/// its screen captured, then stopped with everything it wrote. The verdict,
/// the time to the heartbeat and the screenshot stay with the point. A job
/// (`boot_check`): listed, cancellable; one a hub stop cuts short ends `error`.
public actor BootChecks {
    public struct Request: Sendable {
        public var backupID: String
        public var heartbeat: BootHeartbeat
        /// For a `console` heartbeat: the text to wait for.
        public var consolePattern: String?
        public var timeout: Duration

        public init(backupID: String, heartbeat: BootHeartbeat = .agent, consolePattern: String? = nil, timeout: Duration = .seconds(300)) {
            self.backupID = backupID
            self.heartbeat = heartbeat
            self.consolePattern = consolePattern
            self.timeout = timeout
        }
    }

    private let catalog: CatalogDatabase
    private let jobs: Jobs
    private let recoveries: InstantRecoveries
    private let dataDirectory: String
    private let logger: Logger

    public init(catalog: CatalogDatabase, jobs: Jobs, recoveries: InstantRecoveries, dataDirectory: String, logger: Logger) {
        self.catalog = catalog
        self.jobs = jobs
        self.recoveries = recoveries
        self.dataDirectory = dataDirectory
        self.logger = logger
    }

    /// Where screenshots are kept: the hub's data dir.
    var screenshotFolder: String { dataDirectory + "/boot-checks" }

    /// Checks the request (the point must be one a VM can be recovered
    /// from), then starts the check as a job and answers its row and job.
    public func start(_ request: Request) async throws -> (BootCheckRecord, Job) {
        switch request.heartbeat {
        case .console:
            guard let pattern = request.consolePattern, !pattern.isEmpty, pattern.count <= 256 else {
                throw RecoveryError.invalid("a console heartbeat needs console_pattern: 1 to 256 characters the guest prints when it is up")
            }
        case .agent:
            break  // a console_pattern has nothing to do then: not kept
        }
        guard request.timeout >= .seconds(10) && request.timeout <= .seconds(3600) else {
            throw RecoveryError.invalid("timeout_seconds must be 10 to 3600")
        }
        // Refused now, not in the job: a point no VM can be made from.
        let point = try await RecoverablePoint.load(request.backupID, toBe: "boot-checked", catalog: catalog, dataDirectory: dataDirectory)
        let id = Jobs.newID(.bootCheck)
        let record = BootCheckRecord(checkId: id, backupId: point.backup.backupId, vmName: point.backup.vmName, heartbeat: request.heartbeat,
                                     consolePattern: request.heartbeat == .console ? request.consolePattern : nil, timeoutSeconds: Int(request.timeout.components.seconds))
        try await catalog.saveBootCheck(record)
        let job = await jobs.start(.bootCheck, id: id, vmName: point.backup.vmName, detail: "boot check of \(point.backup.backupId)",
                                   restoring: (point.backup.backupId, nil)) { _ in
            await self.run(record, timeout: request.timeout)
        }
        return (record, job)
    }

    /// The job's work: the sandbox up, the heartbeat waited for, the screen
    /// captured, the sandbox gone; the verdict recorded whatever happened.
    private func run(_ record: BootCheckRecord, timeout: Duration) async -> JobEnd {
        var record = record
        let clock = ContinuousClock()
        let begun = clock.now
        var session: RecoveryRecord? = nil
        var cancelled = false
        do {
            let started = try await recoveries.start(.init(backupID: record.backupId, name: "\(record.vmName.prefix(40))-bootcheck-\(record.checkId.suffix(8))",
                                                           network: "none", purpose: "Boot check \(record.checkId):"))
            session = started
            record.recoveryId = started.recoveryId
            try await catalog.saveBootCheck(record)
            guard let uuid = started.domainUuid else { throw RecoveryError.startFailed("the sandbox has no domain") }
            let domain = try await LibvirtConnection.open(started.libvirtUri).domain(uuid: uuid)
            let console = started.workFolder + "/console.log"
            var seen = false
            while clock.now - begun < timeout {
                try Task.checkCancellation()
                if try await !domain.isActive() {
                    record.status = .failed
                    record.reason = "the VM stopped before its guest showed a heartbeat"
                    break
                }
                seen = switch record.heartbeat {
                case .agent: await domain.agentAnswers(within: 2)
                case .console: await Self.consoleShows(record.consolePattern ?? "", in: console)
                }
                if seen { break }
                try await Task.sleep(for: .seconds(1))
            }
            if seen {
                let elapsed = clock.now - begun
                record.heartbeatSeconds = elapsed.inSeconds
                record.status = .passed
                record.reason = switch record.heartbeat {
                case .agent: "the guest agent answered"
                case .console: "the console showed \"\(record.consolePattern ?? "")\""
                }
            } else if record.status == .running {
                record.status = .failed
                record.reason = "no heartbeat within \(record.timeoutSeconds) s (" + (record.heartbeat == .agent
                    ? "the guest agent never answered" : "the console never showed \"\(record.consolePattern ?? "")\"") + ")"
            }
            record.screenshot = await capture(domain, checkID: record.checkId)
        } catch {
            cancelled = error is CancellationError
            record.status = .error
            record.reason = cancelled ? "cancelled before a verdict" : "\(error)"
        }
        // Gone whatever happened: from a task of its own, a cancelled one cannot reach the catalog.
        let ended = record
        await Task {
            if let session { _ = try? await self.recoveries.stop(session.recoveryId) }
            var final = ended
            final.completedAt = Date()
            try? await self.catalog.saveBootCheck(final)
        }.value
        logger.notice("boot check \(record.checkId) of \(record.backupId): \(record.status.rawValue), \(record.reason ?? "")")
        let summary = "\(record.backupId): \(record.status.rawValue), \(record.reason ?? "")"
        if cancelled { return JobEnd(state: .cancelled, detail: summary) }
        return record.status == .passed ? .completed(summary) : .failed(summary)
    }

    /// The guest's screen as PNG in the data dir; nil (and a log line) when
    /// it could not be captured.
    private func capture(_ domain: LibvirtDomain, checkID: String) async -> String? {
        do {
            let bytes = try await domain.screenPNG()
            let kept = screenshotFolder + "/\(checkID).png"
            try await BlockingPool.shared.run { [folder = screenshotFolder] in
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                try DurableFile.write(Data(bytes), to: kept, mode: [.ownerReadWrite])
            }
            return kept
        } catch {
            logger.warning("boot check \(checkID): no screenshot: \(error)")
            return nil
        }
    }

    /// Whether the console log holds `pattern` (read from the end: a log is bounded by the guest, not by us).
    static func consoleShows(_ pattern: String, in path: String) async -> Bool {
        await BlockingPool.shared.run {
            guard let handle = FileHandle(forReadingAtPath: path) else { return false }
            defer { try? handle.close() }
            let size = (try? handle.seekToEnd()) ?? 0
            let window: UInt64 = 1 << 20
            try? handle.seek(toOffset: size > window ? size - window : 0)
            let tail = (try? handle.readToEnd()) ?? Data()
            return String(decoding: tail, as: UTF8.self).contains(pattern)
        }
    }

    /// After a restart (once the recoveries were taken back): checks the
    /// previous process cut short end `error`, their sandboxes stopped.
    public func resume() async -> [String] {
        var done: [String] = []
        for check in (try? await catalog.runningBootChecks()) ?? [] {
            if let recovery = check.recoveryId, (try? await recoveries.stop(recovery)) != nil {
                done.append("stopped the sandbox \(recovery) of boot check \(check.checkId), cut short by a hub restart")
            }
        }
        if let count = try? await catalog.endRunningBootChecks(reason: "interrupted by a hub restart", now: Date()), count > 0 {
            done.append("\(count) boot check(s) interrupted by a hub restart ended as error")
        }
        return done
    }

    /// The screenshots of checks of points being deleted go with them.
    public func forget(backupID: String) async {
        for var check in (try? await catalog.bootChecks(backupID: backupID)) ?? [] {
            if let shot = check.screenshot { unlink(shot) }
            check.screenshot = nil
            try? await catalog.saveBootCheck(check)
        }
    }
}
