import Foundation

/// Where the NBD servers a job starts are recorded (the hub: its catalog),
/// so that one left behind by a killed hub is found and stopped, and a PID
/// reused by an unrelated process is never touched: a process is identified
/// by PID and kernel start time together.
public protocol ChildProcessLog: Sendable {
    func started(_ process: ChildProcess) async
    func ended(_ process: ChildProcess) async
}

public struct ChildProcess: Sendable, Equatable {
    public var pid: Int32
    /// Clock ticks since boot when it started (/proc/PID/stat, field 22).
    public var startTime: UInt64
    public var command: String
    public var jobID: String?

    public init(pid: Int32, startTime: UInt64, command: String, jobID: String?) {
        self.pid = pid
        self.startTime = startTime
        self.command = command
        self.jobID = jobID
    }

    /// The start time of a running process, nil when there is none with that PID.
    public static func startTime(of pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether this very process (same PID, same start) still runs.
    public var isRunning: Bool { Self.startTime(of: pid) == startTime }
}
