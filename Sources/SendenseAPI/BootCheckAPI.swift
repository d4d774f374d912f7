import Foundation
import SendenseCore

/// `POST /backups/{backup_id}/boot-check`: boot the point's VM in a sandbox
/// and judge it by its heartbeat. Every field is optional.
public struct BootCheckRequest: Codable, Sendable {
    /// `agent` (the default: the QEMU guest agent answers `guest-ping`) or `console` (a text on the serial console).
    public var heartbeat: BootHeartbeat?
    /// For `console`: the text the guest prints once it is up.
    public var consolePattern: String?
    /// How long to wait for the heartbeat: 10 to 3600, default 300.
    public var timeoutSeconds: Int?

    public init(heartbeat: BootHeartbeat? = nil, consolePattern: String? = nil, timeoutSeconds: Int? = nil) {
        self.heartbeat = heartbeat
        self.consolePattern = consolePattern
        self.timeoutSeconds = timeoutSeconds
    }

    enum CodingKeys: String, CodingKey {
        case heartbeat, consolePattern = "console_pattern", timeoutSeconds = "timeout_seconds"
    }
}

/// A boot check, as it runs and once it has its verdict.
public struct BootCheckResponse: Codable, Sendable {
    public var checkId: String
    public var backupId: String
    public var vmName: String
    public var heartbeat: BootHeartbeat
    @Nullable public var consolePattern: String?
    public var timeoutSeconds: Int
    public var status: BootCheckStatus
    /// Why it failed or could not judge; what it saw when it passed.
    @Nullable public var reason: String?
    /// From the request to the heartbeat.
    @Nullable public var heartbeatSeconds: Double?
    /// Where the PNG of the guest's screen is (`GET`), once captured.
    @Nullable public var screenshotUrl: String?
    /// The sandbox's instant recovery session.
    @Nullable public var recoveryId: String?
    public var createdAt: Date
    @Nullable public var completedAt: Date?

    public init(checkId: String, backupId: String, vmName: String, heartbeat: BootHeartbeat, consolePattern: String?, timeoutSeconds: Int,
                status: BootCheckStatus, reason: String?, heartbeatSeconds: Double?, screenshotUrl: String?, recoveryId: String?,
                createdAt: Date, completedAt: Date?) {
        self.checkId = checkId
        self.backupId = backupId
        self.vmName = vmName
        self.heartbeat = heartbeat
        self.consolePattern = consolePattern
        self.timeoutSeconds = timeoutSeconds
        self.status = status
        self.reason = reason
        self.heartbeatSeconds = heartbeatSeconds
        self.screenshotUrl = screenshotUrl
        self.recoveryId = recoveryId
        self.createdAt = createdAt
        self.completedAt = completedAt
    }

    enum CodingKeys: String, CodingKey {
        case checkId = "check_id", backupId = "backup_id", vmName = "vm_name", heartbeat, consolePattern = "console_pattern"
        case timeoutSeconds = "timeout_seconds", status, reason, heartbeatSeconds = "heartbeat_seconds", screenshotUrl = "screenshot_url"
        case recoveryId = "recovery_id", createdAt = "created_at", completedAt = "completed_at"
    }
}

public struct BootCheckListResponse: Codable, Sendable {
    public var bootChecks: [BootCheckResponse]
    public var count: Int

    public init(bootChecks: [BootCheckResponse], count: Int) {
        self.bootChecks = bootChecks
        self.count = count
    }

    enum CodingKeys: String, CodingKey {
        case bootChecks = "boot_checks", count
    }
}
