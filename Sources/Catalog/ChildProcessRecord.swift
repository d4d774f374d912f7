import Foundation
import GRDB

/// An NBD server a job started, while it runs.
public struct ChildProcessRecord: CatalogRecord, Sendable, Equatable {
    public static let databaseTableName = "child_processes"

    public var pid: Int64
    public var startTime: Int64
    public var command: String
    public var jobId: String?
    public var createdAt: Date

    public init(pid: Int64, startTime: Int64, command: String, jobId: String?, createdAt: Date = Date()) {
        self.pid = pid
        self.startTime = startTime
        self.command = command
        self.jobId = jobId
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case pid
        case startTime = "start_time"
        case command
        case jobId = "job_id"
        case createdAt = "created_at"
    }
}

extension CatalogDatabase {
    public func recordChildProcess(_ record: ChildProcessRecord) async throws {
        try await pool.write { db in
            var record = record
            try record.upsert(db)
        }
    }

    public func forgetChildProcess(pid: Int64, startTime: Int64) async throws {
        try await pool.write { db in _ = try ChildProcessRecord.deleteOne(db, key: ["pid": pid, "start_time": startTime]) }
    }

    public func childProcesses() async throws -> [ChildProcessRecord] {
        try await pool.read { db in try ChildProcessRecord.order(Column("created_at")).fetchAll(db) }
    }
}
