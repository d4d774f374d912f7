import Dispatch
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// How the hub stops: SIGTERM or SIGINT stop new connections, let requests
/// and jobs finish for `gracePeriod`, then cancel what still runs. Whatever
/// happens after that — a task that ignores cancellation, a call stuck in a
/// hung share, a wedged thread pool — the process exits `hardLimit` after
/// the signal: a watchdog on a thread of its own, outside Swift's
/// cooperative pool, ends it. A stuck hub that cannot be stopped is worse
/// than one stopped hard: the next start cleans what a kill leaves.
public enum HubShutdown {
    public static let gracePeriod: Duration = .seconds(7)
    public static let hardLimit: Duration = .seconds(10)

    /// Runs the hub's services until a signal, then shuts them down as above.
    public static func run(_ hub: Hub, logger: Logger) async throws {
        armWatchdog(logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: hub.application)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = gracePeriod
        try await ServiceGroup(configuration: configuration).run()
    }

    /// Kept for the process's life: a dropped source stops listening.
    nonisolated(unsafe) private static var watchdogSources: [any DispatchSourceSignal] = []

    private static func armWatchdog(logger: Logger) {
        let queue = DispatchQueue(label: "sendense.shutdown-watchdog")
        let seconds = Int(hardLimit.components.seconds)
        for signal in [SIGTERM, SIGINT] {
            let source = DispatchSource.makeSignalSource(signal: signal, queue: queue)
            source.setEventHandler {
                queue.asyncAfter(deadline: .now() + .seconds(seconds)) {
                    logger.critical("shutdown did not finish within \(seconds) s of the signal: exiting now")
                    _exit(1)
                }
            }
            source.resume()
            watchdogSources.append(source)
        }
    }
}
