import Catalog
import Engine
import Logging

/// What route handlers share: built once at start, immutable afterwards.
struct HubServices: Sendable {
    let configuration: HubConfiguration
    let catalog: CatalogDatabase
    let hasher: PasswordHasher
    let loginLimiter: LoginRateLimiter
    let repositories: RepositoryService
    let backups: BackupService
    let scheduler: FlowScheduler
    let pruner: BackupPruner
    let janitor: Janitor
    let jobs: Jobs
    let events: EventHub
    let restoreSessions: RestoreSessions
    let recoveries: InstantRecoveries
    let vmRestores: VMRestores
    let vcenterRestores: VCenterRestores
    let bootChecks: BootChecks
    var restorePoints: RestorePoints { RestorePoints(catalog: catalog, dataDirectory: configuration.dataDirectory) }
    let secrets: SecretBox
    let vmware: VMwareCredentials
    let metrics: HubMetrics
    let registry: RouteRegistry
    let downloadLinks = DownloadLinks()
    let logger: Logger

    var maxBody: Int { configuration.maxBodyBytes }
}
