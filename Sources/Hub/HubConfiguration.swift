import Engine
import Foundation

/// Everything the hub needs to start. The CLI fills it from flags and
/// environment variables; tests fill it directly.
public struct HubConfiguration: Sendable {
    /// Holds the catalog, the secret key, the default repository and mount points.
    public var dataDirectory: String
    public var bindAddress: String
    public var port: Int
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    /// How long a login token lives unless the login asks for less.
    public var tokenLifetime: TimeInterval
    /// The longest lifetime a login may ask for (for scrapers and scripts).
    public var maxTokenLifetime: TimeInterval
    /// Largest request body accepted; larger ones answer 413.
    public var maxBodyBytes: Int
    /// bcrypt work factor for stored passwords (tests lower it to stay fast).
    public var bcryptCost: UInt8
    /// The first admin's password; a random one is generated when nil.
    public var initialAdminPassword: String?
    public var loginLimits: LoginLimits
    /// Seconds a `mount` / `umount` of a network repository may take.
    public var mountTimeoutSeconds: Int
    /// Create `<data-dir>/repository` as repository "local" when none exists.
    public var createDefaultRepository: Bool
    /// File-restore sessions: how many may be open at once, how long one
    /// lives after its last use, and how often expired ones are closed.
    public var restoreSessions: RestoreSessionLimits
    /// Where VMware's VDDK is installed (its `lib64` parent), for credentials
    /// using the vddk transport; nil lets nbdkit's vddk plugin use its default.
    public var vddkLibdir: String?
    /// Backups running at once hub-wide when flows start them; more wait in a fair queue.
    public var maxConcurrentBackups: Int
    /// How often the scheduler looks for due flows.
    public var schedulerInterval: Duration
    /// How often the janitor runs (it also runs at start).
    public var janitorInterval: Duration
    /// A backup whose progress has not moved this long is failed as stalled.
    public var stallTimeout: Duration
    /// A telemetry sample this often while a job runs (speed charts).
    public var telemetryInterval: Duration
    /// The web GUI's files (`Web/` of the source tree); nil serves no GUI.
    public var webDirectory: String?

    public init(
        dataDirectory: String,
        bindAddress: String = "0.0.0.0",
        port: Int = 8082,
        tlsCertificatePath: String? = nil,
        tlsKeyPath: String? = nil,
        tokenLifetime: TimeInterval = 24 * 3600,
        maxTokenLifetime: TimeInterval = 365 * 24 * 3600,
        maxBodyBytes: Int = 1 << 20,
        bcryptCost: UInt8 = 12,
        initialAdminPassword: String? = nil,
        loginLimits: LoginLimits = LoginLimits(),
        mountTimeoutSeconds: Int = 30,
        createDefaultRepository: Bool = true,
        restoreSessions: RestoreSessionLimits = RestoreSessionLimits(),
        vddkLibdir: String? = nil,
        maxConcurrentBackups: Int = 4,
        schedulerInterval: Duration = .seconds(15),
        janitorInterval: Duration = .seconds(60),
        stallTimeout: Duration = .seconds(600),
        telemetryInterval: Duration = .seconds(10),
        webDirectory: String? = nil
    ) {
        self.dataDirectory = dataDirectory
        self.bindAddress = bindAddress
        self.port = port
        self.tlsCertificatePath = tlsCertificatePath
        self.tlsKeyPath = tlsKeyPath
        self.tokenLifetime = tokenLifetime
        self.maxTokenLifetime = maxTokenLifetime
        self.maxBodyBytes = maxBodyBytes
        self.bcryptCost = bcryptCost
        self.initialAdminPassword = initialAdminPassword
        self.loginLimits = loginLimits
        self.mountTimeoutSeconds = mountTimeoutSeconds
        self.createDefaultRepository = createDefaultRepository
        self.restoreSessions = restoreSessions
        self.vddkLibdir = vddkLibdir
        self.maxConcurrentBackups = maxConcurrentBackups
        self.schedulerInterval = schedulerInterval
        self.janitorInterval = janitorInterval
        self.stallTimeout = stallTimeout
        self.telemetryInterval = telemetryInterval
        self.webDirectory = webDirectory
    }

    var data: DataDirectory { DataDirectory(dataDirectory) }

    /// What the repository service needs of this configuration.
    var repositorySettings: RepositorySettings {
        RepositorySettings(data: data, mountTimeoutSeconds: mountTimeoutSeconds, createDefaultRepository: createDefaultRepository)
    }
}

/// Failed logins allowed within `window` before further attempts are refused
/// with 429, counted per user name and per client address.
public struct LoginLimits: Sendable {
    public var maxFailuresPerUser: Int
    public var maxFailuresPerAddress: Int
    public var window: TimeInterval

    public init(maxFailuresPerUser: Int = 5, maxFailuresPerAddress: Int = 20, window: TimeInterval = 300) {
        self.maxFailuresPerUser = maxFailuresPerUser
        self.maxFailuresPerAddress = maxFailuresPerAddress
        self.window = window
    }
}
