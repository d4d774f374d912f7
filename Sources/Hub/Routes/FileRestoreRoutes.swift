import FileRestore
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import SendenseAPI
import NIOCore
import SendenseCore

extension MountResponse {
    init(_ session: RestoreSessions.Session) {
        self.init(mountId: session.id, backupId: session.backupID, backupDiskId: session.backupDiskID, diskIndex: session.diskIndex,
                  filesystemType: session.worker.filesystemType,
                  partitions: session.worker.volumes.map {
                      Partition(index: $0.index, name: $0.name, filesystemType: $0.filesystemType, sizeBytes: $0.sizeBytes,
                                offsetBytes: $0.offsetBytes, label: $0.label, reason: $0.unsupportedReason)
                  },
                  createdAt: session.createdAt, lastUsedAt: session.lastUsed, expiresAt: session.expiresAt)
    }
}

/// File-level restore: open a backup disk, browse it, download files and
/// folders. Everything is read by the session's worker process (libtsk
/// inside the image, confined); a path is only ever a list of names looked
/// up there.
enum FileRestoreRoutes {
    static let pieceSize = 1 << 20
    static let defaultPageSize = 1000
    static let maxPageSize = 10_000

    static func register(_ table: RouteTable, _ services: HubServices) {
        let sessions = services.restoreSessions

        table.add(.post, "/restore/mount", .role(.operator)) { request, _ -> EditedResponse<MountResponse> in
            let body = try await request.decodeJSON(MountRequest.self, limit: services.maxBody)
            let (disk, companions) = try await services.restorePoints.diskWithCompanions(body.backupId, index: body.diskIndex)
            let (session, created) = try await sessions.mount(
                backupID: body.backupId, backupDiskID: disk.id ?? 0, diskIndex: body.diskIndex, imagePath: disk.qcow2Path,
                companionPaths: companions.map(\.qcow2Path))
            return EditedResponse(status: created ? .created : .ok, response: MountResponse(session))
        }

        table.add(.get, "/restore/mounts", .role(.viewer)) { _, _ -> MountListResponse in
            let mounts = await sessions.all().map(MountResponse.init)
            return MountListResponse(mounts: mounts, count: mounts.count)
        }

        table.add(.get, "/restore/{mount_id}/files", .role(.operator)) { request, context -> FileListResponse in
            let session = try await touch(context, sessions)
            let query = request.uri.queryParameters
            let path = query["path"].map(String.init) ?? "/"
            let limit = try QueryNumber.parse(query["limit"], "limit", default: defaultPageSize, in: 1...maxPageSize)
            let offset = try QueryNumber.parse(query["offset"], "offset", default: 0, in: 0...Int.max)
            let worker = session.worker
            let folder = try await BlockingPool.shared.run { try worker.list(path, offset: offset, limit: limit) }
            let page = folder.entries.map { entry in
                FileListResponse.File(
                    name: entry.name, path: entry.path, type: entry.kind == .directory ? "directory" : "file",
                    size: entry.size, mode: entry.mode, modifiedTime: entry.modified,
                    isSymlink: entry.kind == .symlink, linkTarget: entry.linkTarget)
            }
            return FileListResponse(mountId: session.id, path: folder.path, files: page, totalCount: folder.total,
                                    limit: limit, offset: offset)
        }

        table.add(.get, "/restore/{mount_id}/download", .role(.operator)) { request, context -> Response in
            let session = try await touch(context, sessions)
            guard let path = request.uri.queryParameters["path"].map(String.init) else {
                throw APIError.badRequest("missing query parameter path (the file to download)")
            }
            let confirm = try QueryFlag.parse(request.uri.queryParameters["confirm"], "confirm")
            let worker = session.worker
            let entry = try await BlockingPool.shared.run { try worker.entry(at: path) }
            if entry.isDirectory {
                return try await folderDownload(entry, format: .zip, confirm: confirm, session: session, services)
            }
            return try await fileDownload(entry, request: request, session: session, sessions)
        }

        table.add(.get, "/restore/{mount_id}/download-directory", .role(.operator), repeatable: ["select"]) { request, context -> Response in
            let session = try await touch(context, sessions)
            let query = request.uri.queryParameters
            let path = query["path"].map(String.init) ?? "/"
            let formatText = query["format"].map(String.init) ?? "zip"
            guard let format = ArchiveFormat(rawValue: formatText) else {
                throw APIError.badRequest("format must be zip or tar.gz, got '\(formatText)'")
            }
            let confirm = try QueryFlag.parse(query["confirm"], "confirm")
            let worker = session.worker
            let entry = try await BlockingPool.shared.run { try worker.entry(at: path) }
            guard entry.isDirectory else { throw APIError.badRequest("not a folder: \(entry.path); download files with /download") }
            // `select=NAME` (repeated): only these entries of the folder, as a multi-selection.
            let selected = query.getAll("select")
            guard selected.isEmpty else {
                for name in selected where name.isEmpty || name.contains("/") {
                    throw APIError.badRequest("select takes names inside path, without '/', got '\(name)'")
                }
                let items = try await BlockingPool.shared.run { try selected.map { try worker.entry(at: entry.path + "/" + $0) } }
                let name = archiveName(of: entry, session) + "-selection"
                return try await archiveDownload(items.map { ($0, $0.name) }, name: name, format: format,
                                                 confirm: confirm, session: session, services)
            }
            return try await folderDownload(entry, format: format, confirm: confirm, session: session, services)
        }

        table.add(.post, "/restore/{mount_id}/keepalive", .role(.operator)) { _, context -> KeepaliveResponse in
            let session = try await touch(context, sessions)
            return KeepaliveResponse(mountId: session.id, expiresAt: session.expiresAt)
        }

        table.add(.delete, "/restore/{mount_id}", .role(.operator)) { _, context -> UnmountResponse in
            let id = context.parameters.get("mount_id") ?? ""
            try await sessions.unmount(id)
            return UnmountResponse(message: "backup unmounted successfully", mountId: id)
        }
    }

    private static func touch(_ context: HubContext, _ sessions: RestoreSessions) async throws -> RestoreSessions.Session {
        try await sessions.touch(context.parameters.get("mount_id") ?? "")
    }

    // MARK: downloads

    private static func fileDownload(_ entry: RestoreEntry, request: Request, session: RestoreSessions.Session,
                                     _ sessions: RestoreSessions) async throws -> Response {
        switch entry.kind {
        case .directory: throw FileRestoreError.isADirectory(path: entry.path)
        case .symlink: throw FileRestoreError.symbolicLink(path: entry.path, target: entry.linkTarget ?? "?")
        case .file, .other: break
        }
        let worker = session.worker
        let size = entry.size
        var headers: HTTPFields = [
            .contentType: FileDownload.contentType(forName: entry.name),
            .contentDisposition: FileDownload.disposition(filename: entry.name),
            .acceptRanges: "bytes",
        ]
        if let modified = entry.modified {
            headers[.lastModified] = FileDownload.httpDate(modified)
        }
        let range: ClosedRange<UInt64>
        let status: HTTPResponse.Status
        switch FileDownload.range(request.headers[.range], size: size) {
        case .whole:
            range = 0...(max(size, 1) - 1)
            status = .ok
        case .partial(let asked):
            range = asked
            status = .partialContent
            headers[.contentRange] = "bytes \(asked.lowerBound)-\(asked.upperBound)/\(size)"
        case .unsatisfiable:
            throw APIError(.rangeNotSatisfiable, "the range \(request.headers[.range] ?? "") lies outside \(entry.name) (\(size) bytes)",
                           headers: [.contentRange: "bytes */\(size)"])
        }
        let length = size == 0 ? 0 : range.upperBound - range.lowerBound + 1
        headers[.contentLength] = String(length)
        let id = session.id
        return Response(status: status, headers: headers, body: .init { writer in
            try await holdingSession(id, sessions) {
                var offset = range.lowerBound
                let end = range.lowerBound + length
                while offset < end {
                    let count = Int(min(UInt64(pieceSize), end - offset))
                    let at = offset
                    let piece = try await BlockingPool.shared.run {
                        var buffer = ByteBufferAllocator().buffer(capacity: count)
                        let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { bytes in
                            try worker.read(entry, at: at, into: UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count]))
                        }
                        guard read == count else {
                            throw FileRestoreError.unreadable(path: entry.path, reason: "the file ended at \(at + UInt64(read))")
                        }
                        return buffer
                    }
                    try await writer.write(piece)
                    offset += UInt64(count)
                }
                try await writer.finish(nil)
            }
        })
    }

    /// Runs a download with its session held open: a session is never
    /// expired under a download in flight, and its idle hour restarts after.
    private static func holdingSession(_ id: String, _ sessions: RestoreSessions, _ body: () async throws -> Void) async throws {
        await sessions.beginStream(id)
        do {
            try await body()
        } catch {
            await sessions.endStream(id)
            throw error
        }
        await sessions.endStream(id)
    }

    private static func folderDownload(_ folder: RestoreEntry, format: ArchiveFormat, confirm: Bool,
                                       session: RestoreSessions.Session, _ services: HubServices) async throws -> Response {
        let name = archiveName(of: folder, session)
        return try await archiveDownload([(folder, name)], name: name, format: format, confirm: confirm, session: session, services)
    }

    /// A folder's name, or for the disk's root `<backup_id>-disk<N>`.
    private static func archiveName(of folder: RestoreEntry, _ session: RestoreSessions.Session) -> String {
        folder.name.isEmpty ? "\(session.backupID)-disk\(session.diskIndex)" : folder.name
    }

    /// Streams entries as one archive, each at its top level under its name.
    private static func archiveDownload(_ items: [(entry: RestoreEntry, name: String)], name: String, format: ArchiveFormat,
                                        confirm: Bool, session: RestoreSessions.Session,
                                        _ services: HubServices) async throws -> Response {
        let worker = session.worker
        let entries = items.map(\.entry)
        let contents = try await BlockingPool.shared.run { try worker.contents(of: entries) }
        let limit = services.configuration.restoreSessions.maxFolderDownloadBytes
        let what = entries.count == 1 ? entries[0].path : "the \(entries.count) selected entries"
        if contents.bytes > limit && !confirm {
            throw APIError(.contentTooLarge, "\(what) holds \(contents.bytes) bytes in \(contents.files) files, more than the \(limit)-byte limit for one download; add confirm=true to download it anyway")
        }
        let archiveItems = items.map { ArchiveItem(entry: $0.entry, name: $0.name) }
        let archive = try await BlockingPool.shared.run { try worker.archive(archiveItems, format: format) }
        let sessions = services.restoreSessions
        let id = session.id
        return Response(
            status: .ok,
            headers: [.contentType: format == .zip ? "application/zip" : "application/gzip",
                      .contentDisposition: FileDownload.disposition(filename: name + "." + format.rawValue)],
            body: .init { writer in
                do {
                    try await holdingSession(id, sessions) {
                        while let piece = try await BlockingPool.shared.run({ try archive.next() }) {
                            if !piece.isEmpty { try await writer.write(ByteBuffer(bytes: piece)) }
                        }
                        try await writer.finish(nil)
                    }
                } catch {
                    await BlockingPool.shared.run { archive.close() }
                    // The status line is sent: the client sees a cut archive; say why here.
                    services.logger.error("download of \(what) from restore session \(id) stopped: \(error)")
                    throw error
                }
            })
    }
}
