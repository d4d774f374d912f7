import Foundation

/// Maintenance jobs (prune, merge, cleanup) as `GET /jobs` lists them: the
/// last few hundred, in memory (their effects are in the catalog and logs).
actor JobLog {
    struct Entry: Sendable {
        var id: String
        var type: String
        var status: String
        var vmName: String?
        var detail: String?
        /// While running, as far as the job could tell (a prune through its merges).
        var percent: Double?
        var createdAt: Date
        var completedAt: Date?
    }

    private var entries: [Entry] = []
    private let capacity = 500

    func begin(_ type: String, vmName: String? = nil) -> String {
        let id = "\(type)-\(UUID().uuidString.prefix(8).lowercased())"
        entries.append(Entry(id: id, type: type, status: "running", vmName: vmName, createdAt: Date()))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        return id
    }

    /// Progress reports may arrive out of order (each from its own task): keep the highest.
    func progress(_ id: String, percent: Double) {
        guard let index = entries.lastIndex(where: { $0.id == id }) else { return }
        entries[index].percent = max(entries[index].percent ?? 0, percent)
    }

    func end(_ id: String, status: String, detail: String? = nil) {
        guard let index = entries.lastIndex(where: { $0.id == id }) else { return }
        entries[index].status = status
        entries[index].detail = detail
        entries[index].completedAt = Date()
    }

    /// A job that ran inside another (a merge inside a prune), recorded as done.
    func record(_ type: String, vmName: String?, detail: String, at date: Date = Date()) {
        entries.append(Entry(id: "\(type)-\(UUID().uuidString.prefix(8).lowercased())", type: type, status: "completed",
                             vmName: vmName, detail: detail, createdAt: date, completedAt: date))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    var all: [Entry] { entries }
}
