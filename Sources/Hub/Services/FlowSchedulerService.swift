import Engine
import ServiceLifecycle

/// Drives the flow scheduler: a pass at start, then every `interval`, until
/// the hub shuts down.
struct FlowSchedulerService: Service {
    let scheduler: FlowScheduler
    let interval: Duration

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    await scheduler.tick()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {}
    }
}
