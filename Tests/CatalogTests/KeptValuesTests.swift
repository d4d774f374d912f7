import Catalog
import GRDB
import Synchronization
import Testing
import TestSupport

/// What the hub keeps of its lists: never past a commit to a counted table, nor past its age.
@Suite("Values kept while their catalog tables do not change", .removesScratch)
struct KeptValuesTests {
    /// Counts the builds a test asks for; each build answers its number.
    final class Builds: Sendable {
        private let count = Mutex(0)
        var made: Int { count.withLock { $0 } }
        func make() -> Int { count.withLock { $0 += 1; return $0 } }
    }

    struct Refused: Error {}

    @Test("a value is kept until a commit to a counted table, and not past one; other tables do not matter")
    func keptUntilCommit() async throws {
        let catalog = try await CatalogTests.catalogWithVM()
        let kept = KeptValues<String, Int>(changes: catalog.backupChanges, maxAge: .seconds(60))
        let builds = Builds()
        #expect(try await kept.value(for: "page") { builds.make() } == 1)
        #expect(try await kept.value(for: "page") { builds.make() } == 1)
        // A commit to a table the list does not show (the VMs are counted apart).
        try await catalog.pool.write { db in try db.execute(sql: "UPDATE vm_contexts SET os_type = 'linux'") }
        #expect(try await kept.value(for: "page") { builds.make() } == 1)
        try await catalog.pool.write { db in
            try db.execute(sql: """
                INSERT INTO backup_jobs (backup_id, vm_backup_context_id, repository_id, vm_name, backup_type, status, created_at)
                VALUES ('b1', 1, 1, 'vm', 'full', 'started', datetime('now'))
                """)
        }
        #expect(try await kept.value(for: "page") { builds.make() } == 2)
        #expect(try await kept.value(for: "other page") { builds.make() } == 3)
        #expect(try await kept.value(for: "page") { builds.make() } == 2)
    }

    @Test("nothing is kept past its age: another process's commits are not counted")
    func keptForItsAgeOnly() async throws {
        let catalog = try await CatalogTests.catalogWithVM()
        let kept = KeptValues<Int, Int>(changes: catalog.backupChanges, maxAge: .milliseconds(200))
        let builds = Builds()
        #expect(try await kept.value(for: 0) { builds.make() } == 1)
        #expect(try await kept.value(for: 0) { builds.make() } == 1)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await kept.value(for: 0) { builds.make() } == 2)
    }

    @Test("at most `capacity` keys are kept, the oldest going first; a failed build is not kept")
    func boundedAndFailuresForgotten() async throws {
        let catalog = try await CatalogTests.catalogWithVM()
        let kept = KeptValues<Int, Int>(changes: catalog.backupChanges, maxAge: .seconds(60), capacity: 2)
        let builds = Builds()
        for key in 1...3 { _ = try await kept.value(for: key) { builds.make() } }
        #expect(builds.made == 3)
        #expect(try await kept.value(for: 3) { builds.make() } == 3)
        #expect(try await kept.value(for: 2) { builds.make() } == 2)
        #expect(try await kept.value(for: 1) { builds.make() } == 4, "the oldest key was not dropped")
        await #expect(throws: Refused.self) { try await kept.value(for: 9) { throw Refused() } }
        #expect(try await kept.value(for: 9) { builds.make() } == 5)
    }

    @Test("requests that miss together share one build")
    func missesShareABuild() async throws {
        let catalog = try await CatalogTests.catalogWithVM()
        let kept = KeptValues<Int, Int>(changes: catalog.backupChanges, maxAge: .seconds(60))
        let builds = Builds()
        let answers = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    try await kept.value(for: 0) {
                        try await Task.sleep(for: .milliseconds(100))
                        return builds.make()
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers == Array(repeating: 1, count: 10))
        #expect(builds.made == 1)
    }
}
