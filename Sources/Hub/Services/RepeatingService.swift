import ServiceLifecycle

/// One piece of the hub's work run again and again while it serves: the flow
/// scheduler, the janitor, the restore-session sweeper and the event ticker.
/// `work` runs every `interval` (also once at start when `atStart`) until
/// graceful shutdown, then `atShutdown` runs.
struct RepeatingService: Service, CustomStringConvertible {
    let description: String
    let interval: Duration
    var atStart = false
    let work: @Sendable () async -> Void
    var atShutdown: @Sendable () async -> Void = {}

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                if atStart { await work() }
                while true {
                    try await Task.sleep(for: interval)
                    await work()
                }
            }
        } catch is CancellationError {}
        await atShutdown()
    }
}
