import ServiceLifecycle

/// Runs the janitor at start and every `interval` until shutdown.
struct JanitorService: Service {
    let janitor: Janitor
    let interval: Duration

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    _ = await janitor.run()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {}
    }
}
