import ArgumentParser
import Foundation
import Engine
import Hub
import Logging

struct HubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hub",
        abstract: "Run the Sendense hub: REST API, catalog, repositories.",
        discussion: """
            Environment: SENDENSE_ADMIN_PASSWORD sets the first admin's password (otherwise one is \
            generated, printed once and written to <data-dir>/admin-password); LOG_LEVEL (trace, debug, \
            info, notice, warning, error) sets the log level.
            """)

    @Option(name: .customLong("data-dir"), help: "Folder for the catalog, secret key and default repository.")
    var dataDir = "./data"

    @Option(help: "TCP port to listen on.")
    var port = 8082

    @Option(help: "Address to listen on (0.0.0.0 for all, 127.0.0.1 for this machine only).")
    var bind = "0.0.0.0"

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; serve HTTPS with --tls-key.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted (413 beyond).")
    var maxBodyBytes = 1 << 20

    @Option(name: .customLong("token-lifetime-hours"), help: "Lifetime of a login token.")
    var tokenLifetimeHours = 24.0

    @Flag(name: .customLong("no-default-repository"), help: "Do not create <data-dir>/repository when the hub has no repository.")
    var noDefaultRepository = false

    @Option(name: .customLong("max-restore-sessions"), help: "File-restore sessions open at once (409 beyond).")
    var maxRestoreSessions = 10

    @Option(name: .customLong("restore-session-minutes"), help: "A file-restore session closes this long after its last use.")
    var restoreSessionMinutes = 60.0

    @Option(name: .customLong("max-folder-download-gib"), help: "Folders larger than this download only with confirm=true (413 otherwise).")
    var maxFolderDownloadGiB = 10.0

    @Option(name: .customLong("max-concurrent-backups"), help: "Backups flows run at once hub-wide; more wait in a fair queue.")
    var maxConcurrentBackups = 4

    @Option(name: .customLong("janitor-interval-seconds"), help: "How often stalled jobs, orphaned processes and leftovers are cleaned up.")
    var janitorIntervalSeconds = 60

    @Option(name: .customLong("stall-minutes"), help: "A backup without progress this long is failed as stalled.")
    var stallMinutes = 10

    @Option(name: .customLong("telemetry-seconds"), help: "A telemetry sample this often while a job runs (speed charts).")
    var telemetrySeconds = 10

    @Option(name: .customLong("web-dir"), help: "The web GUI's files (default: Web/ beside the source tree the binary was built in, or ./Web).")
    var webDir: String?

    @Option(name: .customLong("vddk-libdir"), help: "Where VMware's VDDK is installed, for vCenters using the vddk transport.")
    var vddkLibdir: String?

    /// `.build/<config>/sendense` → `<source tree>/Web`, else `./Web`.
    static func defaultWebDirectory() -> String? {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [binary.deletingLastPathComponent().appendingPathComponent("../../../Web").standardizedFileURL.path,
                          binary.deletingLastPathComponent().appendingPathComponent("../../Web").standardizedFileURL.path,
                          FileManager.default.currentDirectoryPath + "/Web"]
        return candidates.first { FileManager.default.fileExists(atPath: $0 + "/index.html") }
    }

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
        if !(0...65535).contains(port) { throw ValidationError("--port must be 0 to 65535 (0: any free port, logged at start)") }
        if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
        if tokenLifetimeHours <= 0 { throw ValidationError("--token-lifetime-hours must be positive") }
        if maxRestoreSessions < 1 { throw ValidationError("--max-restore-sessions must be at least 1") }
        if restoreSessionMinutes <= 0 { throw ValidationError("--restore-session-minutes must be positive") }
        if maxFolderDownloadGiB <= 0 { throw ValidationError("--max-folder-download-gib must be positive") }
        if !(1...64).contains(maxConcurrentBackups) { throw ValidationError("--max-concurrent-backups must be 1 to 64") }
        if janitorIntervalSeconds < 5 { throw ValidationError("--janitor-interval-seconds must be at least 5") }
        if stallMinutes < 1 { throw ValidationError("--stall-minutes must be at least 1") }
        if !(1...3600).contains(telemetrySeconds) { throw ValidationError("--telemetry-seconds must be 1 to 3600") }
    }

    func run() async throws {
        MemoryTuning.forLargeBuffers()
        var logger = Logger(label: "sendense.hub")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let environment = ProcessInfo.processInfo.environment
        let configuration = HubConfiguration(
            dataDirectory: dataDir, bindAddress: bind, port: port,
            tlsCertificatePath: tlsCert, tlsKeyPath: tlsKey,
            tokenLifetime: tokenLifetimeHours * 3600, maxBodyBytes: maxBodyBytes,
            initialAdminPassword: environment["SENDENSE_ADMIN_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 },
            createDefaultRepository: !noDefaultRepository,
            restoreSessions: RestoreSessionLimits(
                maxSessions: maxRestoreSessions, idleLifetime: restoreSessionMinutes * 60,
                maxFolderDownloadBytes: UInt64(maxFolderDownloadGiB * Double(1 << 30))),
            vddkLibdir: vddkLibdir, maxConcurrentBackups: maxConcurrentBackups,
            janitorInterval: .seconds(janitorIntervalSeconds), stallTimeout: .seconds(stallMinutes * 60),
            telemetryInterval: .seconds(telemetrySeconds), webDirectory: webDir ?? Self.defaultWebDirectory())
        let hub = try await Hub.build(configuration: configuration, logger: logger)
        if let password = hub.initialAdminPassword {
            // Printed once, on the first start only; also in the 0600 file.
            print("""
                ============================================================
                First start: created user 'admin' with password
                    \(password)
                (also written to \(hub.initialAdminPasswordFile ?? "the data dir"), mode 0600)
                ============================================================
                """)
            fflush(nil)  // all streams: stdout may be a pipe to a log file
        }
        try await HubShutdown.run(hub, logger: logger)
    }
}
