import Catalog
import Engine
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import SendenseCore
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// A hub ready to run: its HTTP application plus what callers and tests want
/// to see of it.
public struct Hub: Sendable {
    public let application: Application<RouterResponder<HubContext>>
    public let catalog: CatalogDatabase
    public let registry: RouteRegistry
    public let configuration: HubConfiguration
    /// Set on the very first start: the admin account that was created.
    public let initialAdminPassword: String?
    public let initialAdminPasswordFile: String?

    /// Opens (or creates) the data dir, the catalog and the default
    /// repository, creates the first admin, and builds the HTTP application.
    public static func build(configuration: HubConfiguration, logger: Logger) async throws -> Hub {
        var configuration = configuration
        configuration.dataDirectory = try DataDirectory.prepare(configuration.dataDirectory).path

        let catalogPath = configuration.data.catalogPath
        let catalog = try await BlockingPool.shared.run { try CatalogDatabase(path: catalogPath) }
        let secrets = try SecretBox.loadOrCreate(at: configuration.data.secretKeyPath)
        let hasher = PasswordHasher(cost: configuration.bcryptCost)
        let admin = try await AdminBootstrap.ensureAdmin(catalog: catalog, hasher: hasher, configuration: configuration)
        let repositories = RepositoryService(catalog: catalog, secrets: secrets, settings: configuration.repositorySettings, logger: logger)
        // Mounting shares and sweeping repositories are blocking file-system work.
        try await withTaskExecutorPreference(BlockingPool.shared) { [configuration] in
            await repositories.remountNetworkRepositories()
            try await repositories.ensureDefault()
            try await StartupRecovery.run(catalog: catalog, repositories: repositories, runDirectory: configuration.data.runDirectory, logger: logger)
        }
        let processLog = CatalogChildProcessLog(catalog: catalog)
        let events = EventHub()
        let vmware = VMwareCredentials(catalog: catalog, secrets: secrets, vddkLibdir: configuration.vddkLibdir, processLog: processLog)
        let jobs = Jobs(catalog: catalog, logger: logger)
        let backups = BackupService(catalog: catalog, runDirectory: configuration.data.runDirectory, logger: logger,
                                    vmwareSources: { try await vmware.source(for: $0, disks: $1, runDirectory: $2) },
                                    processLog: processLog, telemetryInterval: configuration.telemetryInterval, events: events,
                                    jobs: jobs)
        let sessions = RestoreSessions(catalog: catalog, limits: configuration.restoreSessions, logger: logger)
        let janitor = Janitor(catalog: catalog, backups: backups, sessions: sessions, vmware: vmware, jobs: jobs,
                              stallTimeout: configuration.stallTimeout, runDirectory: configuration.data.runDirectory, logger: logger)
        let recoveries = InstantRecoveries(catalog: catalog, jobs: jobs, dataDirectory: configuration.dataDirectory,
                                           runDirectory: configuration.data.runDirectory, logger: logger)
        // VMs recovered by the previous hub process run on: their sessions are taken back (or ended) before anything may delete their points.
        for line in await recoveries.resume() { logger.notice("\(line)") }
        // VM restores the previous process cut short (their jobs were failed above) leave no files or domain.
        let vmRestores = VMRestores(catalog: catalog, jobs: jobs, dataDirectory: configuration.dataDirectory, logger: logger)
        for line in await vmRestores.resume() { logger.warning("\(line)") }
        let vcenterRestores = VCenterRestores(catalog: catalog, jobs: jobs, credentials: vmware, dataDirectory: configuration.dataDirectory,
                                              logger: logger)
        // A vCenter that cannot be reached now keeps its rows for the next start; the hub does not wait for it.
        Task { for line in await vcenterRestores.resume() { logger.warning("\(line)") } }
        let bootChecks = BootChecks(catalog: catalog, jobs: jobs, recoveries: recoveries, dataDirectory: configuration.dataDirectory, logger: logger)
        for line in await bootChecks.resume() { logger.warning("\(line)") }
        let pruner = BackupPruner(catalog: catalog, logger: logger, isBackingUp: { await backups.isBackingUp(vmName: $0) },
                                  readerOf: { vmName in
                                      if let recovery = await recoveries.activeRecovery(ofVM: vmName) { return "instant recovery \(recovery)" }
                                      return await jobs.restoresRunning().first { $0.vmName == vmName }.map { "job \($0.jobID)" }
                                  },
                                  willDelete: { await sessions.unmountAll(backupID: $0); await bootChecks.forget(backupID: $0) })
        let scheduler = FlowScheduler(
            catalog: catalog, backups: backups, maxConcurrentBackups: configuration.maxConcurrentBackups,
            pruner: { vmName, repositoryID, policy, zone in
                _ = try? await RetentionRun.prune(vmName: vmName, repositoryID: repositoryID, policy: policy, timeZone: zone,
                                                  dryRun: false, pruner: pruner, jobs: jobs, logger: logger)
            },
            bootChecker: { backupID, flowName in
                do {
                    let (check, _) = try await bootChecks.start(.init(backupID: backupID))
                    logger.notice("flow \(flowName): boot check \(check.checkId) of backup \(backupID) started")
                } catch {
                    // A point that cannot boot here (not a libvirt domain's, no KVM) keeps its backup; the reason is logged.
                    logger.warning("flow \(flowName): backup \(backupID) not boot-checked: \(error)")
                }
            }, logger: logger)

        let registry = RouteRegistry()
        let services = HubServices(
            configuration: configuration, catalog: catalog, hasher: hasher,
            loginLimiter: LoginRateLimiter(limits: configuration.loginLimits), repositories: repositories, backups: backups,
            scheduler: scheduler, pruner: pruner, janitor: janitor, jobs: jobs, events: events,
            restoreSessions: sessions, recoveries: recoveries, vmRestores: vmRestores, vcenterRestores: vcenterRestores, bootChecks: bootChecks,
            secrets: secrets, vmware: vmware, metrics: HubMetrics(), registry: registry, logger: logger)
        let router = makeRouter(services)

        let server: HTTPServerBuilder
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
            server = try .tls(.http1(), tlsConfiguration: tls)
        } else {
            server = .http1()
        }
        let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
        let started = configuration
        let application = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.port), serverName: "sendense"),
            // Later services stop first: sessions close before the catalog does.
            services: [CatalogCloser(catalog: catalog, backups: backups, jobs: jobs, logger: logger),
                       // Expired restore sessions close; at shutdown every session does.
                       RepeatingService(description: "restore session sweeper", interval: .seconds(configuration.restoreSessions.sweepInterval),
                                        work: { _ = await sessions.sweep() }, atShutdown: { await sessions.closeAll() }),
                       RepeatingService(description: "flow scheduler", interval: configuration.schedulerInterval, atStart: true,
                                        work: { await scheduler.tick() }),
                       RepeatingService(description: "janitor", interval: configuration.janitorInterval, atStart: true,
                                        work: { _ = await janitor.run(always: false) }),
                       // A recovered VM whose guest powered off leaves its disk server and overlays: its session ends.
                       RepeatingService(description: "recovery watcher", interval: configuration.janitorInterval,
                                        work: { for line in await recoveries.endVanished() { logger.notice("\(line)") } }),
                       // The event stream's once-a-second progress; every stream ends at shutdown.
                       RepeatingService(description: "event ticker", interval: .seconds(1),
                                        work: { await events.tick(backups: backups, catalog: catalog) }, atShutdown: { await events.closeAll() })],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? started.port
                logger.notice("Sendense hub \(SendenseVersion.current) listening on \(scheme)://\(started.bindAddress):\(port) (data: \(started.dataDirectory))")
            },
            logger: logger)
        return Hub(
            application: application, catalog: catalog, registry: registry, configuration: configuration,
            initialAdminPassword: admin?.generated == true ? admin?.password : nil,
            initialAdminPasswordFile: admin?.passwordFile)
    }

    static func makeRouter(_ services: HubServices) -> Router<HubContext> {
        let router = Router(context: HubContext.self)
        router.add(middleware: ObservabilityMiddleware(metrics: services.metrics))
        router.add(middleware: ErrorMiddleware(registry: services.registry))
        router.add(middleware: FormQueryMiddleware())
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: VendorScriptMiddleware())
        if let web = services.configuration.webDirectory {
            // The GUI's files, for anyone (the login page must load); every API route still checks its token.
            router.add(middleware: FileMiddleware(web, cacheControl: .init([(MediaType(type: .any), [.noCache])]), searchForIndexHtml: true))
        }
        let authenticator = Authenticator(catalog: services.catalog, links: services.downloadLinks)
        let api = RouteTable(router: router, registry: services.registry, authenticator: authenticator, prefix: "/api/v1")
        let root = RouteTable(router: router, registry: services.registry, authenticator: authenticator, prefix: "")
        HealthRoutes.register(api, services)
        AuthRoutes.register(api, services)
        UserRoutes.register(api, services)
        RepositoryRoutes.register(api, services)
        VMContextRoutes.register(api, services)
        VMRegistrationRoutes.register(api, services)
        VMwareCredentialRoutes.register(api, services)
        DiscoveryRoutes.register(api, services)
        LibvirtDiscoveryRoutes.register(api, services)
        ProtectionGroupRoutes.register(api, services)
        ProtectionFlowRoutes.register(api, services)
        MaintenanceRoutes.register(api, services)
        TelemetryRoutes.register(api, services)
        BackupRoutes.register(api, services)
        RestoreRoutes.register(api, services)
        RecoveryRoutes.register(api, services)
        BootCheckRoutes.register(api, services)
        FileRestoreRoutes.register(api, services)
        DocumentRoutes.register(api: api, root: root, services)
        return router
    }

}

/// Stops running jobs and closes the catalog after the HTTP server has
/// drained: services shut down in reverse order, and the server is started
/// last, so it stops first.
struct CatalogCloser: Service {
    let catalog: CatalogDatabase
    let backups: BackupService
    let jobs: Jobs
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await backups.shutdown()
        await jobs.shutdown()
        do {
            try await BlockingPool.shared.run { [catalog] in try catalog.close() }
            logger.info("catalog closed")
        } catch {
            logger.error("closing the catalog failed: \(error)")
        }
    }
}
