import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import SendenseCore

func gibibytes(_ bytes: Int64) -> Double { (Double(bytes) / Double(1 << 30) * 1000).rounded() / 1000 }

extension BackupListResponse.Item {
    init(_ record: BackupJobRecord, diskCount: Int) {
        self.init(backupId: record.backupId, vmName: record.vmName, repositoryId: String(record.repositoryId),
                  backupType: record.backupType, status: record.status, totalSizeGb: gibibytes(record.bytesTransferred),
                  diskCount: diskCount, createdAt: record.createdAt, completedAt: record.completedAt,
                  durationSeconds: record.completedAt.map { Int($0.timeIntervalSince(record.startedAt ?? record.createdAt).rounded()) },
                  consistency: record.consistency)
    }
}

/// The chain a request asked for.
private struct ChainKey: Hashable, Sendable {
    var vmName: String
    var repositoryID: Int64
}

enum BackupRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog

        table.add(.post, "/backups", .role(.operator)) { request, _ -> EditedResponse<StartBackupResponse> in
            let body = try await request.decodeJSON(StartBackupRequest.self, limit: services.maxBody)
            guard let backupType = BackupType(rawValue: body.backupType) else {
                throw APIError.badRequest("backup_type must be full or incremental, got '\(body.backupType)'")
            }
            let started = try await services.backups.start(.init(
                vmName: body.vmName, repositoryID: body.repositoryID, incremental: backupType == .incremental,
                diskIndexes: body.diskIndexes))
            let job = started.job
            return EditedResponse(status: .created, response: StartBackupResponse(
                backupId: job.backupId, vmContextId: started.contextID, vmName: job.vmName, backupType: job.backupType,
                status: .started,
                diskResults: started.disks.map { .init(diskId: $0.id ?? 0, diskIndex: $0.diskIndex, vmwareDiskKey: $0.vmwareDiskKey,
                                                      qcow2Path: $0.qcow2Path, status: .started) },
                note: job.note, createdAt: job.createdAt))
        }

        // The lists are kept until a backup (or a disk, a boot check, a repository) changes: the GUI asks for the same pages again and again.
        let pages = KeptResponses<BackupListFilter>(changes: catalog.backupChanges)
        table.add(.get, "/backups", .role(.viewer)) { request, _ -> Response in
            let query = request.uri.queryParameters
            var filter = BackupListFilter()
            filter.vmName = query["vm_name"].map(String.init)
            if let repository = query["repository_id"] {
                guard let id = Int64(repository) else { throw APIError.badRequest("repository_id must be a number, got '\(repository)'") }
                filter.repositoryId = id
            }
            filter.limit = try QueryNumber.parse(query["limit"], "limit", default: filter.limit, in: 1...1000)
            if let offset = query["offset"] {
                guard let value = Int(offset), value >= 0 else { throw APIError.badRequest("offset must be 0 or more") }
                filter.offset = value
            }
            // Checked after the other parameters, which are wrong whatever the status: a status no backup can have matches none.
            if let status = query["status"] {
                guard let known = BackupStatus(rawValue: String(status)) else {
                    return try APIResponseEncoder.response(encoding: BackupListResponse(backups: [], totalCount: 0))
                }
                filter.status = known
            }
            return try await pages.response(for: filter) { [filter] in
                let (records, total, diskCounts) = try await catalog.backups(filter)
                return BackupListResponse(backups: records.map { BackupListResponse.Item($0, diskCount: diskCounts[$0.backupId] ?? 0) },
                                          totalCount: total)
            }
        }

        let chains = KeptResponses<ChainKey>(changes: catalog.backupChanges)
        table.add(.get, "/backups/chain", .role(.viewer)) { request, _ -> Response in
            let query = request.uri.queryParameters
            guard let vmName = query["vm_name"].map(String.init) else { throw APIError.badRequest("missing query parameter vm_name") }
            guard let repositoryText = query["repository_id"], let repositoryID = Int64(repositoryText) else {
                throw APIError.badRequest("query parameter repository_id must be a repository id")
            }
            // Whether a point is restorable also looks for its manifest on disk: a manifest lost
            // outside the hub shows within the 2 s a kept chain lives.
            return try await chains.response(for: ChainKey(vmName: vmName, repositoryID: repositoryID)) {
                try await chain(vmName: vmName, repositoryID: repositoryID, services)
            }
        }

        table.add(.get, "/backups/{backup_id}", .role(.viewer)) { _, context -> BackupDetailResponse in
            let id = context.parameters.get("backup_id") ?? ""
            guard let record = try await catalog.backup(id: id) else { throw APIError.notFound("backup not found: backup_id=\(id)") }
            return try await detail(record, services)
        }

        table.add(.post, "/backups/{backup_id}/cancel", .role(.operator)) { _, context -> EditedResponse<MessageResponse> in
            let id = context.parameters.get("backup_id") ?? ""
            guard let record = try await catalog.backup(id: id) else { throw APIError.notFound("backup not found: backup_id=\(id)") }
            guard await services.backups.cancel(id) else {
                throw APIError.conflict("backup \(id) is not running (status \(record.status.rawValue))")
            }
            return EditedResponse(status: .accepted, response: MessageResponse(message: "cancelling", backupId: id))
        }

        table.add(.delete, "/backups/{backup_id}", .role(.admin)) { request, context -> MessageResponse in
            let id = context.parameters.get("backup_id") ?? ""
            let cascade = try QueryFlag.parse(request.uri.queryParameters["cascade"], "cascade")
            let deleted = try await BackupDeletion.delete(id, cascade: cascade, catalog: catalog, backups: services.backups,
                                                      sessions: services.restoreSessions, recoveries: services.recoveries, jobs: services.jobs)
            for backupID in deleted { await services.bootChecks.forget(backupID: backupID) }
            return MessageResponse(message: "deleted \(deleted.count) backup(s)", backupId: id, deleted: deleted)
        }

        table.add(.post, "/backups/{backup_id}/verify", .role(.operator)) { _, context -> VerifyResponse in
            let id = context.parameters.get("backup_id") ?? ""
            let report = try await services.restorePoints.verify(id, jobs: services.jobs)
            return VerifyResponse(backupId: id, ok: report.ok, runsChecked: report.runsChecked,
                                  bytesChecked: report.bytesChecked, firstMismatch: report.firstMismatch)
        }
    }

    static func chain(vmName: String, repositoryID: Int64, _ services: HubServices) async throws -> ChainResponse {
        let chain = try await services.restorePoints.chain(vmName: vmName, repositoryID: repositoryID)
        let links = chain.enumerated().map { index, point -> ChainResponse.Link in
            let check = point.bootCheck
            return .init(backupId: point.backup.backupId, backupType: point.backup.backupType, sequenceNumber: index + 1,
                         createdAt: point.backup.createdAt, sizeGb: gibibytes(point.backup.bytesTransferred),
                         parentBackupId: point.backup.parentBackupId, isRestorable: point.restorable, consistency: point.backup.consistency,
                         bootCheck: check?.status, bootCheckId: check?.checkId)
        }
        return ChainResponse(vmName: vmName, repositoryId: String(repositoryID), chain: links, totalBackups: links.count,
                             chainSizeGb: gibibytes(chain.reduce(0) { $0 + $1.backup.bytesTransferred }))
    }

    static func detail(_ record: BackupJobRecord, _ services: HubServices) async throws -> BackupDetailResponse {
        let rows = try await services.catalog.backupDisks(of: record.backupId)
        let live = await services.backups.progress(of: record.backupId)
        var bytes = record.bytesTransferred, total = record.totalBytes
        var phase = record.currentPhase
        if let live {
            bytes = Int64(live.bytesTransferred)
            total = Int64(live.totalBytes)
            phase = live.phase
        }
        let disks = rows.map { row -> BackupDetailResponse.Disk in
            let liveDisk = live?.disks[row.diskIndex]
            let done = liveDisk.map { Int64($0.bytesTransferred) } ?? row.bytesTransferred
            let diskTotal = liveDisk.map { Int64($0.totalBytes) } ?? 0
            let status = liveDisk?.status ?? row.status
            let percent = status == .completed ? 100 : diskTotal > 0 ? min(100, Double(done) * 100 / Double(diskTotal)) : 0
            return .init(diskIndex: row.diskIndex, status: status, capacityBytes: row.capacityBytes, qcow2Path: row.qcow2Path, bytesTransferred: done,
                         progressPercent: (percent * 10).rounded() / 10, checkpoint: row.checkpoint)
        }
        let elapsed = (record.completedAt ?? Date()).timeIntervalSince(record.startedAt ?? record.createdAt)
        let speed = elapsed > 0 ? Int64(Double(bytes) / elapsed) : 0
        let percent = record.status == .completed ? 100 : total > 0 ? min(100, Double(bytes) * 100 / Double(total)) : 0
        let eta: Int64? = record.status == .completed ? 0 : (speed > 0 && total > bytes ? (total - bytes) / speed : nil)
        return BackupDetailResponse(
            backupId: record.backupId, vmName: record.vmName, repositoryId: String(record.repositoryId), status: record.status,
            backupType: record.backupType, parentBackupId: record.parentBackupId, disks: disks,
            progressPercent: (percent * 10).rounded() / 10, bytesTransferred: bytes, totalBytes: total, transferSpeedBps: speed,
            etaSeconds: eta, currentPhase: phase, errorMessage: record.errorMessage, note: record.note, consistency: record.consistency,
            createdAt: record.createdAt, completedAt: record.completedAt)
    }
}
