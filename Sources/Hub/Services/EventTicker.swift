import Catalog
import Engine
import ServiceLifecycle

/// Drives the event stream's once-a-second progress; ends every stream at shutdown.
struct EventTicker: Service {
    let events: EventHub
    let backups: BackupService
    let catalog: CatalogDatabase

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    try await Task.sleep(for: .seconds(1))
                    await events.tick(backups: backups, catalog: catalog)
                }
            }
        } catch is CancellationError {}
        await events.closeAll()
    }
}
