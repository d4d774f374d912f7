import Catalog
import Foundation
import Logging
import Repository
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// Whether a repository can be used right now, and how full it is.
struct RepositoryHealth: Sendable {
    var online: Bool
    var message: String?
    var capacity: StorageCapacity?
}

/// Creates, checks and removes repositories. An actor, so two requests can
/// never both pass the "no overlapping repository" check and then both write.
actor RepositoryService {
    let catalog: CatalogDatabase
    let secrets: SecretBox
    let configuration: HubConfiguration
    let mounter: ShareMounter
    let logger: Logger

    init(catalog: CatalogDatabase, secrets: SecretBox, configuration: HubConfiguration, logger: Logger) {
        self.catalog = catalog
        self.secrets = secrets
        self.configuration = configuration
        self.mounter = ShareMounter(timeoutSeconds: configuration.mountTimeoutSeconds)
        self.logger = logger
    }

    func create(_ request: NewRepositoryRequest) async throws -> RepositoryRecord {
        if let problem = NameRules.problem(with: request.name, field: "name") { throw APIError.badRequest(problem) }
        if let days = request.immutableDays, !(0...36500).contains(days) { throw APIError.badRequest("immutable_days must be 0 to 36500") }
        let existing = try await catalog.repositories()
        if existing.contains(where: { $0.name == request.name }) {
            throw APIError.conflict("a repository named \(request.name) already exists")
        }
        switch request.type {
        case .local:
            return try await createLocal(request, existing: existing)
        case .nfs, .cifs:
            return try await createNetwork(request)
        }
    }

    private func createLocal(_ request: NewRepositoryRequest, existing: [RepositoryRecord]) async throws -> RepositoryRecord {
        guard let rawPath = request.path else { throw APIError.badRequest("missing field 'path' (required for type local)") }
        let path = try RepositoryPaths.normalize(rawPath)
        try checkPlacement(path, existing: existing)
        let prepared = try LocalRepository.prepareUndoably(at: path)
        var record = RepositoryRecord(
            name: request.name, type: .local, path: path, repositoryUuid: prepared.descriptor.id, immutable: request.immutable ?? false)
        record.immutableDays = request.immutableDays
        do {
            return try await catalog.insertRepository(record)
        } catch {
            prepared.undo()
            throw error
        }
    }

    private func createNetwork(_ request: NewRepositoryRequest) async throws -> RepositoryRecord {
        let share: NetworkShare
        switch request.type {
        case .nfs:
            guard let server = request.nfsServer, let export = request.nfsExport else {
                throw APIError.badRequest("type nfs needs the fields 'nfs_server' and 'nfs_export'")
            }
            share = .nfs(server: server, export: export, options: request.mountOptions)
        default:
            guard let cifsShare = request.cifsShare else {
                throw APIError.badRequest("type cifs needs the field 'cifs_share' (//server/share)")
            }
            share = .cifs(share: cifsShare, username: request.username, password: request.password, options: request.mountOptions)
        }
        _ = try share.validated()
        let mountPoint = configuration.mountsDirectory + "/" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: configuration.mountsDirectory, withIntermediateDirectories: true)
        try await mounter.mount(share, at: mountPoint, credentialsDirectory: configuration.mountsDirectory)
        do {
            let descriptor = try LocalRepository.prepare(at: mountPoint)
            var record = RepositoryRecord(
                name: request.name, type: request.type, path: mountPoint, repositoryUuid: descriptor.id,
                mountOptions: request.mountOptions, immutable: request.immutable ?? false)
            record.immutableDays = request.immutableDays
            record.nfsServer = request.nfsServer
            record.nfsExport = request.nfsExport
            record.cifsShare = request.cifsShare
            record.username = request.username
            record.passwordEncrypted = try request.password.map { try secrets.seal($0) }
            return try await catalog.insertRepository(record)
        } catch {
            try? await mounter.unmount(mountPoint)
            throw error
        }
    }

    /// Repositories must not nest in each other, nor hold the hub's own
    /// data dir, nor sit where the hub mounts shares.
    private func checkPlacement(_ path: String, existing: [RepositoryRecord]) throws {
        try RepositoryPaths.checkNoOverlap(path, existing: existing.map(\.path))
        let dataDir = (try? RepositoryPaths.normalize(configuration.dataDirectory)) ?? configuration.dataDirectory
        if RepositoryPaths.overlap(path, dataDir), !path.hasPrefix(dataDir + "/") {
            throw APIError.unprocessable("repository path \(path) would contain the hub's data dir \(dataDir)")
        }
        if RepositoryPaths.overlap(path, configuration.mountsDirectory) || path == dataDir + "/catalog.sqlite" {
            throw APIError.unprocessable("repository path \(path) is reserved for the hub's own files")
        }
    }

    func delete(id: Int64) async throws {
        guard let record = try await catalog.repository(id: id) else {
            throw APIError.notFound("repository not found: id=\(id)")
        }
        try await catalog.deleteRepository(id: id)
        if record.type != .local {
            do {
                try await mounter.unmount(record.path)
            } catch {
                logger.warning("repository \(record.name) removed, but its share stays mounted: \(error)")
            }
        }
    }

    /// Creates repository "local" under the data dir when the hub has none.
    func ensureDefault() async throws {
        guard configuration.createDefaultRepository, try await catalog.repositories().isEmpty else { return }
        _ = try await create(NewRepositoryRequest(name: "local", type: .local, path: configuration.defaultRepositoryPath))
        logger.info("created the default repository at \(configuration.defaultRepositoryPath)")
    }

    /// Network shares do not survive a reboot: mount again what is not mounted.
    func remountNetworkRepositories() async {
        guard let records = try? await catalog.repositories() else { return }
        for record in records where record.type != .local && !ShareMounter.isMountPoint(record.path) {
            do {
                let password = try record.passwordEncrypted.map { try secrets.open($0) }
                let share: NetworkShare = record.type == .nfs
                    ? .nfs(server: record.nfsServer ?? "", export: record.nfsExport ?? "", options: record.mountOptions)
                    : .cifs(share: record.cifsShare ?? "", username: record.username, password: password, options: record.mountOptions)
                try await mounter.mount(share, at: record.path, credentialsDirectory: configuration.mountsDirectory)
                logger.info("mounted repository \(record.name) at \(record.path)")
            } catch {
                logger.error("repository \(record.name) is offline: \(error)")
            }
        }
    }

    /// What the online repositories hold (backups, and what killed jobs
    /// left): where the start-up recovery and the janitor look.
    /// Blocking file-system calls: from async code, run it on `BlockingPool`.
    nonisolated static func contents(of records: [RepositoryRecord]) -> [RepositoryContents] {
        records.filter { check($0).online }.map { RepositoryContents.scan(root: $0.path) }
    }

    // MARK: health

    /// How long a request waits for a repository's file system to answer.
    static let probeDeadline: Duration = .seconds(2)

    /// Whether each repository is online and how full it is, answered within
    /// `probeDeadline` whatever its file system does: a share whose server
    /// hangs is reported offline ("did not answer") instead of hanging the
    /// request. At most one probe per repository is under way: callers
    /// arriving meanwhile share it, so a hung share holds one blocked thread,
    /// not one per request.
    func health(of records: [RepositoryRecord]) async -> [Int64: RepositoryHealth] {
        let probes = records.map { record in (record, probe(record)) }
        return await withTaskGroup(of: (Int64, RepositoryHealth).self) { group in
            for (record, probe) in probes {
                group.addTask {
                    do {
                        return (record.id ?? 0, try await withDeadline(Self.probeDeadline, "repository \(record.name)") { await probe.value })
                    } catch {
                        return (record.id ?? 0, RepositoryHealth(
                            online: false, message: "\(record.path) did not answer within \(Self.probeDeadline) (a hung share or disk?)"))
                    }
                }
            }
            var answers: [Int64: RepositoryHealth] = [:]
            for await (id, health) in group { answers[id] = health }
            return answers
        }
    }

    func health(of record: RepositoryRecord) async -> RepositoryHealth {
        await health(of: [record])[record.id ?? 0] ?? RepositoryHealth(online: false, message: "not probed")
    }

    private var probes: [Int64: Task<RepositoryHealth, Never>] = [:]

    private func probe(_ record: RepositoryRecord) -> Task<RepositoryHealth, Never> {
        let key = record.id ?? 0
        if let running = probes[key] { return running }
        let probe = Task { await BlockingPool.shared.run { Self.check(record) } }
        probes[key] = probe
        Task { _ = await probe.value; self.probeEnded(key, probe) }
        return probe
    }

    private func probeEnded(_ key: Int64, _ probe: Task<RepositoryHealth, Never>) {
        if probes[key] == probe { probes[key] = nil }
    }

    /// Online means: the folder is there (mounted, for a share) and its
    /// repository.json carries the id the catalog expects. Writing into an
    /// empty mount point would silently fill the hub's own disk. Blocking
    /// file-system calls: requests go through `health(of:)`.
    nonisolated static func check(_ record: RepositoryRecord) -> RepositoryHealth {
        if record.type != .local && !ShareMounter.isMountPoint(record.path) {
            return RepositoryHealth(online: false, message: "the share is not mounted at \(record.path)")
        }
        do {
            let descriptor = try LocalRepository.readDescriptor(at: record.path)
            guard descriptor.id == record.repositoryUuid else {
                return RepositoryHealth(online: false, message: "\(record.path) holds another repository (id \(descriptor.id))")
            }
            return RepositoryHealth(online: true, capacity: try StorageCapacity.of(path: record.path))
        } catch {
            return RepositoryHealth(online: false, message: "\(error)")
        }
    }
}
