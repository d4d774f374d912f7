import Catalog
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import NIOCore
import SendenseCore

extension Job {
    /// A restore's status as the restore routes have always said it: `in_progress` while it runs.
    var restoreStatus: BackupStatus { state == .running ? .inProgress : BackupStatus(rawValue: state.rawValue) ?? .failed }

    /// Bytes done of the total, to a tenth of a percent.
    var restorePercent: Double {
        let percent = state == .completed ? 100 : totalBytes == 0 ? 0 : Double(bytesDone) * 100 / Double(totalBytes)
        return (percent * 10).rounded() / 10
    }
}

extension DiskRestoreResponse {
    init(_ job: Job) {
        self.init(jobId: job.id, backupId: job.backupID ?? "", diskIndex: job.diskIndex ?? 0, status: job.restoreStatus,
                  bytesDone: job.bytesDone, totalBytes: job.totalBytes, progressPercent: job.restorePercent,
                  errorMessage: job.errorMessage, createdAt: job.createdAt, completedAt: job.completedAt)
    }
}

extension VMRestoreResponse {
    init(_ record: VMRestoreRecord, _ job: Job) {
        self.init(jobId: record.jobId, backupId: record.backupId, vmName: record.vmName, domainName: record.domainName,
                  domainUuid: record.domainUuid, libvirtUri: record.libvirtUri,
                  vcenter: record.vcenter.map { .init(credentialId: $0.credentialId, datacenter: $0.datacenter, host: $0.host,
                                                      datastore: $0.datastore, vmMoref: $0.vmMoref) },
                  pool: record.storagePool, network: record.network,
                  keepMacs: record.keepMacs, start: record.start,
                  disks: record.disks.map { .init(target: $0.target, diskIndex: $0.diskIndex, path: $0.path) },
                  status: job.restoreStatus, bytesDone: job.bytesDone, totalBytes: job.totalBytes, progressPercent: job.restorePercent,
                  errorMessage: job.errorMessage, createdAt: job.createdAt, completedAt: job.completedAt)
    }
}

/// Whole-disk restore: into a new file or onto an NBD export, as a job; or
/// streamed to the client as a raw image. Whole-VM restore: a new libvirt
/// domain with its disks restored to files, as a job.
enum RestoreRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/restore/disk", .role(.operator)) { request, _ -> EditedResponse<DiskRestoreResponse> in
            let body = try await request.decodeJSON(DiskRestoreRequest.self, limit: services.maxBody)
            let (backup, disk) = try await services.restorePoints.disk(body.backupId, index: body.diskIndex)
            let target: DiskRestore.Target
            switch body.target.type {
            case "file":
                guard let path = body.target.path else { throw APIError.badRequest("missing field 'target.path'") }
                let format = body.target.format ?? "raw"
                guard ["raw", "qcow2"].contains(format) else { throw APIError.badRequest("target.format must be raw or qcow2") }
                target = .file(path: try await services.restorePoints.fileTarget(path), format: format)
            case "nbd":
                guard let uri = body.target.uri else { throw APIError.badRequest("missing field 'target.uri'") }
                target = try .nbd(uri: uri)
            default:
                throw APIError.badRequest("target.type must be file or nbd")
            }
            let kind = try await services.catalog.repository(id: backup.repositoryId)?.type ?? .local
            let image = disk.qcow2Path
            // Reads the chain with blocking calls: from a share, on the blocking pool.
            let job = await services.jobs.start(.restore, vmName: backup.vmName, detail: "\(body.backupId) disk \(body.diskIndex)",
                                                restoring: (body.backupId, Optional(body.diskIndex)), on: kind.jobExecutor) { progress in
                try await DiskRestore.restore(image: image, to: target, progress: progress)
                return .completed()
            }
            return EditedResponse(status: .accepted, response: DiskRestoreResponse(job))
        }

        table.add(.get, "/restore/disk/{job_id}", .role(.viewer)) { _, context -> DiskRestoreResponse in
            let id = context.parameters.get("job_id") ?? ""
            // Live while it runs; one that ended, or of an earlier hub process, as the job history has it.
            guard let job = try await services.jobs.job(id), job.kind == .restore, job.backupID != nil, job.diskIndex != nil else {
                throw APIError.notFound("restore job not found: job_id=\(id)")
            }
            return DiskRestoreResponse(job)
        }

        table.add(.post, "/restore/vm", .role(.operator)) { request, _ -> EditedResponse<VMRestoreResponse> in
            let body = try await request.decodeJSON(VMRestoreRequest.self, limit: services.maxBody)
            let target = body.target
            guard let kind = VMRestoreTargetType(rawValue: target.type ?? "libvirt") else {
                throw APIError.badRequest("target.type must be " + VMRestoreTargetType.allCases.map(\.rawValue).joined(separator: " or "))
            }
            switch kind {
            case .libvirt:
                guard target.credentialId == nil, target.host == nil, target.datastore == nil else {
                    throw APIError.badRequest("target.credential_id, target.host and target.datastore are for a vcenter target")
                }
                let destination: VMRestores.Request.Destination
                switch (target.directory, target.pool) {
                case (let directory?, nil): destination = .folder(directory)
                case (nil, let pool?): destination = .storagePool(pool)
                default: throw APIError.badRequest("give exactly one of target.directory and target.pool")
                }
                let (record, job) = try await services.vmRestores.start(
                    .init(backupID: body.backupId, name: body.name, libvirtURI: target.uri ?? "qemu:///system", destination: destination,
                          network: body.network, keepMACs: body.keepMacs ?? false, start: body.start ?? false))
                return EditedResponse(status: .accepted, response: VMRestoreResponse(record, job))
            case .vcenter:
                guard target.uri == nil, target.directory == nil, target.pool == nil else {
                    throw APIError.badRequest("target.uri, target.directory and target.pool are for a libvirt target")
                }
                guard let credential = target.credentialId, let datastore = target.datastore else {
                    throw APIError.badRequest("a vcenter target needs target.credential_id and target.datastore")
                }
                let (record, job) = try await services.vcenterRestores.start(
                    .init(backupID: body.backupId, name: body.name, credentialID: credential, host: target.host, datastore: datastore,
                          network: body.network, keepMACs: body.keepMacs ?? false, powerOn: body.start ?? false))
                return EditedResponse(status: .accepted, response: VMRestoreResponse(record, job))
            }
        }

        table.add(.get, "/restore/vm/{job_id}", .role(.viewer)) { _, context -> VMRestoreResponse in
            let id = context.parameters.get("job_id") ?? ""
            guard let record = try await services.catalog.vmRestore(jobID: id), let job = try await services.jobs.job(id) else {
                throw APIError.notFound("VM restore job not found: job_id=\(id)")
            }
            return VMRestoreResponse(record, job)
        }

        table.add(.get, "/backups/{backup_id}/disks/{disk_index}/image", .role(.operator)) { request, context -> Response in
            let id = context.parameters.get("backup_id") ?? ""
            guard let indexText = context.parameters.get("disk_index"), let index = Int(indexText) else {
                throw APIError.badRequest("disk_index must be a number")
            }
            let asked = request.uri.queryParameters["format"].map(String.init) ?? "raw"
            guard let format = DiskDownload.Format(rawValue: asked) else {
                throw APIError.badRequest("format must be " + DiskDownload.Format.allCases.map(\.rawValue).joined(separator: ", "))
            }
            let path = try await services.restorePoints.disk(id, index: index).disk.qcow2Path
            let download = try await DiskDownload.open(path: path, as: format)
            var headers: HTTPFields = [.contentType: "application/octet-stream",
                                       .contentDisposition: "attachment; filename=\"\(id)-disk\(index).\(format.rawValue)\""]
            // A VMDK's size is known once its grains are deflated: sent chunked.
            if let size = download.size { headers[.contentLength] = String(size) }
            return Response(
                status: .ok,
                headers: headers,
                body: .init { writer in
                    try await download.forEachPiece { piece in try await writer.write(piece) }
                    try await writer.finish(nil)
                })
        }
    }
}
