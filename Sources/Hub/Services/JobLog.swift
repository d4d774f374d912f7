import Catalog
import Engine
import Foundation
import Logging

/// Jobs that are not backups — restores, verify, prune, merge, cleanup — as
/// `GET /jobs` lists them. Each is in the catalog (`job_history`) from its
/// start, so the list outlives a restart and a job a restart cut short ends
/// as failed (StartupRecovery); while one runs, its percentage lives here.
actor JobLog {
    private let catalog: CatalogDatabase
    private let logger: Logger
    private var percents: [String: Double] = [:]

    init(catalog: CatalogDatabase, logger: Logger) {
        self.catalog = catalog
        self.logger = logger
    }

    func begin(_ type: String, vmName: String? = nil) async -> String {
        let id = Self.newID(type)
        await save(JobHistoryRecord(jobId: id, type: type, status: "running", vmName: vmName))
        return id
    }

    /// Progress reports may arrive out of order (each from its own task): keep the highest.
    func progress(_ id: String, percent: Double) {
        percents[id] = max(percents[id] ?? 0, percent)
    }

    /// The job ended; a failed one's `detail` is its error.
    func end(_ id: String, status: String, detail: String? = nil) async {
        percents[id] = nil
        do {
            try await catalog.endJob(id: id, status: status, detail: detail, errorMessage: status == "failed" ? detail : nil)
        } catch {
            logger.error("the end of job \(id) could not be recorded: \(error)")
        }
    }

    /// A job recorded once it is done (a merge inside a prune, a periodic cleanup that cleaned something).
    func record(_ type: String, vmName: String?, detail: String, startedAt: Date = Date()) async {
        await save(JobHistoryRecord(jobId: Self.newID(type), type: type, status: "completed",
                                    vmName: vmName, detail: detail, createdAt: startedAt, completedAt: Date()))
    }

    /// A disk restore as it starts and as it ends (its live bytes stay in RestoreService).
    func restore(_ status: RestoreService.Status) async {
        await save(JobHistoryRecord(
            jobId: status.jobID, type: "restore", status: status.status == "in_progress" ? "running" : status.status,
            detail: "\(status.backupID) disk \(status.diskIndex)", errorMessage: status.errorMessage,
            createdAt: status.createdAt, completedAt: status.completedAt,
            backupId: status.backupID, diskIndex: status.diskIndex,
            bytesDone: Int64(status.bytesDone), totalBytes: Int64(status.totalBytes)))
    }

    /// A disk restore an earlier hub process ran, as its record says.
    func pastRestore(_ id: String) async throws -> RestoreService.Status? {
        guard let record = try await catalog.job(id: id), record.type == "restore", let backupID = record.backupId,
              let diskIndex = record.diskIndex else { return nil }
        return RestoreService.Status(
            jobID: id, backupID: backupID, diskIndex: diskIndex, status: record.status,
            bytesDone: UInt64(max(0, record.bytesDone ?? 0)), totalBytes: UInt64(max(0, record.totalBytes ?? 0)),
            errorMessage: record.errorMessage, createdAt: record.createdAt, completedAt: record.completedAt)
    }

    /// The newest `limit` jobs, a running one with its percentage if it told one.
    func recent(limit: Int) async throws -> [(record: JobHistoryRecord, percent: Double?)] {
        try await catalog.recentJobs(limit: limit).map { ($0, percents[$0.jobId]) }
    }

    func knows(_ id: String) async -> Bool {
        (try? await catalog.job(id: id)) != nil
    }

    private static func newID(_ type: String) -> String { "\(type)-\(UUID().uuidString.prefix(8).lowercased())" }

    private func save(_ record: JobHistoryRecord) async {
        do {
            try await catalog.saveJob(record)
        } catch {
            logger.error("job \(record.jobId) could not be recorded: \(error)")
        }
    }
}
