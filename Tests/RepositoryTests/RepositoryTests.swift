import Foundation
import Repository
import Testing
import TestSupport

@Suite("Repository folders", .removesScratch)
struct RepositoryFolderTests {
    @Test("paths are normalized and must be absolute", arguments: [
        ("/backup/repo/", "/backup/repo"), ("/backup/./a/../repo", "/backup/repo"), ("//backup//repo", "/backup/repo"),
    ])
    func normalize(_ input: String, _ expected: String) throws {
        #expect(try RepositoryPaths.normalize(input) == expected)
    }

    @Test("bad paths are refused", arguments: ["", "relative", "/", "/..", "/a/\u{0}b"])
    func badPaths(_ input: String) {
        #expect(throws: RepositoryError.self) { try RepositoryPaths.normalize(input) }
    }

    @Test("nesting is detected by path components, not string prefixes")
    func overlap() {
        #expect(RepositoryPaths.overlap("/a/b", "/a/b/c"))
        #expect(RepositoryPaths.overlap("/a/b/c", "/a/b"))
        #expect(RepositoryPaths.overlap("/a/b", "/a/b"))
        #expect(!RepositoryPaths.overlap("/a/b", "/a/bc"))
        #expect(!RepositoryPaths.overlap("/a/b", "/a/c"))
    }

    @Test("prepare writes repository.json durably, and keeps the id when run again")
    func prepare() throws {
        let path = scratchFolder("repo") + "/new/repo"
        let first = try LocalRepository.prepare(at: path)
        #expect(first.formatVersion == 1)
        #expect(FileManager.default.fileExists(atPath: path + "/vms"))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
        #expect(leftovers == ["repository.json", "vms"])  // no temp or probe files
        let second = try LocalRepository.prepare(at: path)
        #expect(second.id == first.id)
        #expect(try LocalRepository.readDescriptor(at: path) == first)
    }

    @Test("a non-empty folder without repository.json is refused")
    func foreign() throws {
        let path = scratchFolder("repo")
        #expect(FileManager.default.createFile(atPath: path + "/data.bin", contents: Data([1])))
        #expect(throws: RepositoryError.self) { try LocalRepository.prepare(at: path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["data.bin"])
    }

    @Test("a damaged or too new repository.json is refused with the reason")
    func damagedDescriptor() throws {
        let path = scratchFolder("repo")
        try Data("{nope".utf8).write(to: URL(fileURLWithPath: path + "/repository.json"))
        #expect(throws: RepositoryError.self) { try LocalRepository.prepare(at: path) }
        try Data(#"{"id":"x","format_version":99,"created":"2025-01-01T00:00:00Z"}"#.utf8)
            .write(to: URL(fileURLWithPath: path + "/repository.json"))
        do {
            _ = try LocalRepository.prepare(at: path)
            Issue.record("a format 99 repository was accepted")
        } catch let error as RepositoryError {
            #expect(error.description.contains("newer"))
        }
    }

    @Test("unwritable places are refused", arguments: ["/proc/sendense", "/etc/hostname/repo"])
    func unwritable(_ path: String) {
        #expect(throws: RepositoryError.self) { try LocalRepository.prepare(at: path) }
    }

    @Test("capacity comes from statvfs")
    func capacity() throws {
        let capacity = try StorageCapacity.of(path: scratchFolder("repo"))
        let attributes = try FileManager.default.attributesOfFileSystem(forPath: NSTemporaryDirectory())
        #expect(capacity.totalBytes == (attributes[.systemSize] as? NSNumber)?.int64Value)
        #expect(capacity.availableBytes > 0 && capacity.usedBytes > 0)
        #expect(throws: RepositoryError.self) { try StorageCapacity.of(path: "/no/such/folder") }
    }

    @Test("durable writes replace atomically and leave no temp file")
    func durableWrite() throws {
        let folder = scratchFolder("repo")
        try DurableFile.write(Data("one".utf8), to: folder + "/f")
        try DurableFile.write(Data("two".utf8), to: folder + "/f", mode: .ownerReadWrite)
        #expect(try String(contentsOfFile: folder + "/f", encoding: .utf8) == "two")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["f"])
    }
}

@Suite("Network shares", .removesScratch)
struct NetworkShareTests {
    @Test("NFS mount arguments")
    func nfsArguments() throws {
        let share = try NetworkShare.nfs(server: "nas.lab", export: "/exports/backup", options: "vers=4.1,soft").validated()
        #expect(share.mountArguments(mountPoint: "/data/mounts/x", credentialsFile: nil)
            == ["-t", "nfs", "nas.lab:/exports/backup", "/data/mounts/x", "-o", "vers=4.1,soft"])
        let v6 = NetworkShare.nfs(server: "fd00::5", export: "/e", options: nil)
        #expect(v6.mountArguments(mountPoint: "/m", credentialsFile: nil) == ["-t", "nfs", "[fd00::5]:/e", "/m"])
    }

    @Test("CIFS passwords go through a credentials file, never the command line")
    func cifsArguments() throws {
        let share = try NetworkShare.cifs(share: "//fs01/backup", username: "svc", password: "p@ss word", options: "vers=3.0").validated()
        let arguments = share.mountArguments(mountPoint: "/m", credentialsFile: "/d/.cred")
        #expect(arguments == ["-t", "cifs", "//fs01/backup", "/m", "-o", "credentials=/d/.cred,vers=3.0"])
        #expect(!arguments.joined().contains("p@ss"))
        #expect(share.credentialsFileContents == "username=svc\npassword=p@ss word\n")
        let guest = NetworkShare.cifs(share: "//fs01/pub", username: nil, password: nil, options: nil)
        #expect(guest.mountArguments(mountPoint: "/m", credentialsFile: nil) == ["-t", "cifs", "//fs01/pub", "/m", "-o", "guest"])
    }

    @Test("values that could inject options or arguments are refused", arguments: [
        NetworkShare.nfs(server: "-oevil", export: "/x", options: nil),
        NetworkShare.nfs(server: "nas", export: "relative", options: nil),
        NetworkShare.nfs(server: "nas", export: "/x,rw", options: nil),
        NetworkShare.nfs(server: "nas", export: "/x/../etc", options: nil),
        NetworkShare.nfs(server: "nas", export: "/x", options: "soft rw"),
        NetworkShare.nfs(server: "nas host", export: "/x", options: nil),
        NetworkShare.cifs(share: "//fs01", username: nil, password: nil, options: nil),
        NetworkShare.cifs(share: "\\\\fs01\\share", username: nil, password: nil, options: nil),
        NetworkShare.cifs(share: "//fs01/s", username: "a,b", password: nil, options: nil),
        NetworkShare.cifs(share: "//fs01/s", username: "a", password: "x\ny", options: nil),
        NetworkShare.cifs(share: "//fs01/s", username: "a", password: "b", options: "credentials=/etc/shadow"),
    ])
    func injection(_ share: NetworkShare) {
        #expect(throws: RepositoryError.self) { try share.validated() }
    }

    @Test("a mount the kernel refuses fails with mount's message and removes the mount point")
    func realMountFailure() async throws {
        let folder = scratchFolder("repo")
        let mountPoint = folder + "/mnt"
        do {
            try await ShareMounter(timeoutSeconds: 20).mount(
                .nfs(server: "127.0.0.1", export: "/nothing", options: "soft"), at: mountPoint, credentialsDirectory: folder)
            Issue.record("mounting a share that does not exist succeeded")
        } catch let error as RepositoryError {
            #expect(error.description.hasPrefix("mounting the share failed: "))
            #expect(error.description.count > "mounting the share failed: ".count)
        }
        #expect(!FileManager.default.fileExists(atPath: mountPoint))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).isEmpty)
    }

    @Test("a mount that hangs is stopped after the timeout, and no credentials file is left")
    func hangingMount() async throws {
        let folder = scratchFolder("repo")
        let script = folder + "/hanging-mount"
        try Data("#!/bin/sh\nsleep 30\n".utf8).write(to: URL(fileURLWithPath: script))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let start = ContinuousClock.now
        do {
            try await ShareMounter(timeoutSeconds: 1, mountProgram: script).mount(
                .cifs(share: "//fs/s", username: "u", password: "secret-pw", options: nil),
                at: folder + "/mnt", credentialsDirectory: folder)
            Issue.record("a hanging mount succeeded")
        } catch let error as RepositoryError {
            #expect(error.description.contains("did not finish within 1 s"))
        }
        #expect(ContinuousClock.now - start < .seconds(10))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["hanging-mount"])
    }
}
