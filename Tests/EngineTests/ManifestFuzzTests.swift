import Catalog
import DiskImage
import Engine
import Foundation
import Logging
import Repository
import TestSupport
import Testing

/// Mutated manifests of real backups given to a repository rescan (a catalog
/// rebuild) and to verify, both run in the hub's process. The outcome must be
/// an import, a skip that says why, or a typed error: never a trap, never a
/// catalog row naming a file outside the repository, and the backups whose
/// manifests were left alone still import. Bounded by `FUZZ_SECONDS` (20 by
/// default; `make fuzz` runs longer); the seed is printed to replay a run.
@Suite(.serialized, .removesScratch) struct ManifestFuzzTests {
    /// Values that break types, ranges and paths.
    static func interesting(_ random: inout SplitMix64) -> Any {
        let choices: [Any] = [
            NSNull(), 0, -1, 1, Int64.max, UInt64.max, Double(1e300), 9_999_999_999_999_999_999.0, "", "..", "../..", "/etc/passwd",
            "../../../../etc/passwd", "disk-0.qcow2", "../x/disk-0.qcow2", "a/b", "\u{0}", String(repeating: "é", count: 300),
            "2025-13-45T99:99:99Z", "1970-01-01T00:00:00Z", true, [] as [Any], [:] as [String: Any], [["offset": UInt64.max, "length": 1]],
            random.next() % 300, Int64(bitPattern: random.next()),
        ]
        return choices[Int(random.next() % UInt64(choices.count))]
    }

    enum Step { case key(String), index(Int) }

    /// Every place in a JSON tree, containers and leaves, as steps from the root.
    static func places(_ value: Any, _ prefix: [Step] = []) -> [[Step]] {
        if let object = value as? [String: Any] {
            return [prefix] + object.keys.sorted().flatMap { places(object[$0] as Any, prefix + [.key($0)]) }
        }
        if let array = value as? [Any] {
            return [prefix] + array.indices.flatMap { places(array[$0], prefix + [.index($0)]) }
        }
        return [prefix]
    }

    /// `value` with `change` applied at `path` (nil from `change` removes the place).
    static func edit(_ value: Any, at path: ArraySlice<Step>, _ change: (Any) -> Any?) -> Any? {
        guard let step = path.first else { return change(value) }
        switch step {
        case .key(let key):
            guard var object = value as? [String: Any] else { return value }
            object[key] = object[key].flatMap { edit($0, at: path.dropFirst(), change) }
            return object
        case .index(let index):
            guard var array = value as? [Any], array.indices.contains(index) else { return value }
            if let changed = edit(array[index], at: path.dropFirst(), change) { array[index] = changed } else { array.remove(at: index) }
            return array
        }
    }

    /// Replaces, removes or duplicates one place, chosen uniformly among all of them.
    static func mutate(_ tree: Any, random: inout SplitMix64) -> Any {
        let all = places(tree)
        let path = all[Int(random.next() % UInt64(all.count))]
        let action = random.next() % 8
        var values = random
        defer { random = values }
        return edit(tree, at: path[...]) { current in
            switch action {
            case 0: return nil
            case 1: return (current as? [Any]).map { $0 + $0.prefix(1) } ?? interesting(&values)  // a disk or run twice
            default: return interesting(&values)
            }
        } ?? tree
    }

    @Test("mutated manifests: imported, skipped with a reason, or a typed error; nothing outside the repository")
    func fuzz() async throws {
        let seconds = Double(ProcessInfo.processInfo.environment["FUZZ_SECONDS"] ?? "") ?? 20
        let runSeed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? UInt64.random(in: 0...UInt64(UInt32.max))
        print("manifest fuzz: seed \(runSeed) (FUZZ_SEED=\(runSeed) repeats this run), \(seconds) s")
        var lab = try await BackupPrunerTests.Lab()
        for date in ["2025-01-01T00:00:00Z", "2025-01-02T00:00:00Z", "2025-01-03T00:00:00Z"] { try await lab.backup(at: date) }
        let repository = try #require(try await lab.catalog.repository(id: lab.scheduler.repositoryID))
        let root = URL(fileURLWithPath: repository.path).resolvingSymlinksInPath().path
        let folders = lab.points.map { lab.directory($0.id) }
        let originals = try folders.map { try Data(contentsOf: URL(fileURLWithPath: $0 + "/" + BackupManifest.fileName)) }
        var logger = Logger(label: "manifest-fuzz")
        logger.logLevel = .critical

        var random = SplitMix64(seed: runSeed)
        var outcomes: [String: Int] = [:]
        let deadline = Date() + seconds
        var iteration = 0
        while Date() < deadline {
            // One manifest (now and then two) mutated: structurally, or as bytes.
            let targets = Set((0..<(random.next() % 3 == 0 ? 2 : 1)).map { _ in Int(random.next() % UInt64(folders.count)) })
            for (index, folder) in folders.enumerated() {
                var data = originals[index]
                if targets.contains(index) {
                    if random.next() % 5 == 0 {
                        var bytes = [UInt8](data)
                        for _ in 0...(random.next() % 4) { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next()) }
                        data = Data(bytes)
                    } else {
                        let tree = try JSONSerialization.jsonObject(with: data)
                        var mutated = tree
                        for _ in 0...(random.next() % 3) { mutated = Self.mutate(mutated, random: &random) }
                        // A root replaced by a scalar is written as one (JSONSerialization traps on it).
                        data = JSONSerialization.isValidJSONObject(mutated)
                            ? try JSONSerialization.data(withJSONObject: mutated) : Data("\(mutated)".utf8)
                    }
                }
                try data.write(to: URL(fileURLWithPath: folder + "/" + BackupManifest.fileName))
            }
            let catalogPath = lab.scheduler.folder + "/fuzz-\(iteration).sqlite"
            let catalog = try CatalogDatabase(path: catalogPath)
            var record = repository
            record.id = nil
            let registered = try await catalog.insertRepository(record)
            let report = try await CatalogRebuild.rescan(registered, catalog: catalog, logger: logger)
            outcomes["imported", default: 0] += report.backupsImported
            outcomes["skipped", default: 0] += report.skipped.count
            // The backups whose manifests were left alone import, unless a mutated one was their parent.
            let firstTarget = targets.min() ?? folders.count
            #expect(report.backupsImported >= firstTarget, "seed \(runSeed) case \(iteration): \(report.skipped)")
            for id in lab.points.map(\.id) {
                for disk in try await catalog.backupDisks(of: id) {
                    let path = URL(fileURLWithPath: disk.qcow2Path).standardizedFileURL.resolvingSymlinksInPath().path
                    #expect(path.hasPrefix(root + "/"), "seed \(runSeed) case \(iteration): \(disk.qcow2Path) is outside \(root)")
                }
            }
            for folder in folders {
                do {
                    let verified = try BackupVerifier.verify(backupDirectory: folder)
                    outcomes[verified.ok ? "verified" : "verify failed", default: 0] += 1
                } catch is RepositoryError {
                    outcomes["verify refused", default: 0] += 1
                } catch is DiskImageError {
                    outcomes["verify refused", default: 0] += 1
                }
            }
            try catalog.close()
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: catalogPath + suffix) }
            iteration += 1
        }
        for (index, folder) in folders.enumerated() {
            try originals[index].write(to: URL(fileURLWithPath: folder + "/" + BackupManifest.fileName))
        }
        print("manifest fuzz: \(iteration) cases; " + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        #expect(iteration > 0)
        #expect((outcomes["skipped"] ?? 0) > 0 && (outcomes["imported"] ?? 0) > 0, "the mutations never refused or never kept a manifest")
        // Untouched, every point still verifies.
        for folder in folders { #expect(try BackupVerifier.verify(backupDirectory: folder).ok) }
    }
}
