import Catalog
import Crypto
import Engine
import Foundation
import HTTPTypes
import Hub
import TestSupport
import Testing

/// File-level restore through the API: a VM whose qcow2 disk holds a GPT
/// table with ext4 and FAT32 partitions is backed up, its files changed and
/// backed up again; each restore point is browsed and downloaded.
@Suite("File-level restore over the API", .removesScratch)
struct FileRestoreAPITests {
    struct FileVM {
        let folder: String
        let disk: String
        let treeV1: String
        let treeV2: String
        let partitions: [TestDisks.Partition]
    }

    /// The disk (v1 files) plus the ext4 tree v2 that replaces partition 1 later.
    static func makeVM() throws -> FileVM {
        let folder = scratchFolder()
        let v1 = try TestDisks.sampleTree(at: folder + "/v1", seed: 11, largeBytes: 1 << 20)
        let fat = try TestDisks.sampleTree(at: folder + "/fat", seed: 12, largeBytes: 1000, symlink: false)
        let v2 = try TestDisks.sampleTree(at: folder + "/v2", seed: 13, largeBytes: 1 << 20)
        try Data("added in v2\n".utf8).write(to: URL(fileURLWithPath: v2 + "/Documents/new.txt"))
        try Data("a plus in the name\n".utf8).write(to: URL(fileURLWithPath: v2 + "/Données été/c++ notes.txt"))
        let partitions = [TestDisks.Partition(.ext4(label: "data"), sizeMiB: 16, content: v1),
                          TestDisks.Partition(.fat32(label: "BOOT"), sizeMiB: 36, content: fat)]
        try TestDisks.makeDisk(at: folder + "/disk.raw", label: "gpt", partitions: partitions)
        try mustRun(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", folder + "/disk.raw", folder + "/vda.qcow2"])
        return FileVM(folder: folder, disk: folder + "/vda.qcow2", treeV1: v1, treeV2: v2, partitions: partitions)
    }

    /// Writes the v2 ext4 filesystem over partition 1 through QEMU's block
    /// layer, so the disk's dirty bitmap records the change.
    static func changeFiles(_ vm: FileVM) throws {
        let image = vm.folder + "/v2.ext4"
        try TestDisks.makeFileSystem(.ext4(label: "data"), sizeMiB: 16, content: vm.treeV2, at: image)
        let offset = TestDisks.partitionOffset(0, label: "gpt", partitions: vm.partitions)
        try mustRun(["qemu-io", "-f", "qcow2", "-c", "write -q -s \(image) \(offset) \(16 << 20)", vm.disk])
    }

    static func backup(_ api: APITester, _ token: String, type: String, vm: String = "files1") async throws -> String {
        let started = try await api.request(.post, "/api/v1/backups", token: token,
                                            json: ["vm_name": vm, "repository_id": "1", "backup_type": type])
        try #require(started.status == .created, "\(started.text)")
        #expect(started.json["backup_type"] as? String == type, "\(started.text)")
        let id = try #require(started.json["backup_id"] as? String)
        let done = try await api.waitForBackup(id, token: token)
        try #require(done.json["status"] as? String == "completed", "\(done.text)")
        return id
    }

    static func sha256(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    static func mount(_ api: APITester, _ token: String, _ backupID: String, disk: Int = 0) async throws -> APIAnswer {
        try await api.request(.post, "/api/v1/restore/mount", token: token, json: ["backup_id": backupID, "disk_index": disk])
    }

    static func query(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path
    }

    /// `path` as an HTML form or `URLSearchParams` encodes it: spaces as `+`, a plus as `%2B`.
    static func formQuery(_ path: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(" ")
        return (path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path).replacingOccurrences(of: " ", with: "+")
    }

    /// What Python's zipfile or tarfile finds in an archive: name → [sha256, size, mtime].
    static func archiveContents(_ path: String, format: String) throws -> [String: [Any]] {
        let script = """
            import hashlib, json, sys, tarfile, zipfile, calendar
            out = {}
            if sys.argv[2] == "zip":
                with zipfile.ZipFile(sys.argv[1]) as z:
                    assert z.testzip() is None
                    for i in z.infolist():
                        if not i.is_dir():
                            out[i.filename] = [hashlib.sha256(z.read(i)).hexdigest(), i.file_size, calendar.timegm(i.date_time + (0, 0, 0))]
            else:
                with tarfile.open(sys.argv[1], "r:gz") as t:
                    for m in t.getmembers():
                        if m.isfile():
                            out[m.name] = [hashlib.sha256(t.extractfile(m).read()).hexdigest(), m.size, int(m.mtime)]
                        elif m.issym():
                            out[m.name] = ["symlink:" + m.linkname, 0, int(m.mtime)]
            print(json.dumps(out))
            """
        let output = try mustRun(["python3", "-c", script, path, format])
        return try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: [Any]] ?? [:]
    }

    @Test("full and incremental restore points each show their own files; listings, downloads, ranges, archives, safety")
    func browseAndDownload() async throws {
        let vm = try Self.makeVM()
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "files1", "source": ["type": "qemu_image", "disks": [["path": vm.disk, "label": "vda"]]],
            ])
            try #require(registered.status == .created, "\(registered.text)")
            let fullID = try await Self.backup(api, token, type: "full")
            try Self.changeFiles(vm)
            let incrementalID = try await Self.backup(api, token, type: "incremental")

            let viewer = try await api.tokenFor(role: "viewer", admin: token)
            #expect(try await Self.mount(api, viewer, fullID).status == .forbidden)

            let full = try await Self.mount(api, token, fullID)
            #expect(full.status == .created, "\(full.text)")
            let fullMount = try #require(full.json["mount_id"] as? String)
            #expect(full.json["filesystem_type"] as? String == "mixed")
            #expect(full.json["status"] as? String == "mounted")
            let partitions = try #require(full.json["partitions"] as? [[String: Any]])
            #expect(partitions.map { $0["name"] as? String } == ["Partition 1 - data (16.0 MB)", "Partition 2 - BOOT (36.0 MB)"])
            #expect(partitions.map { $0["filesystem_type"] as? String } == ["ext4", "fat32"])
            #expect(try await Self.mount(api, token, fullID).json["mount_id"] as? String == fullMount)
            #expect(try await Self.mount(api, token, fullID, disk: 7).status == .notFound)

            let incremental = try await Self.mount(api, token, incrementalID)
            let incrementalMount = try #require(incremental.json["mount_id"] as? String)
            let mounts = try await api.request(.get, "/api/v1/restore/mounts", token: viewer)
            #expect(mounts.json["count"] as? Int == 2)

            let ext4 = "/Partition 1 - data (16.0 MB)"
            func files(_ mount: String, _ path: String, _ extra: String = "") async throws -> APIAnswer {
                try await api.request(.get, "/api/v1/restore/\(mount)/files?path=\(Self.query(path))\(extra)", token: token)
            }
            func download(_ mount: String, _ path: String, headers: HTTPFields = [:]) async throws -> APIAnswer {
                try await api.request(.get, "/api/v1/restore/\(mount)/download?path=\(Self.query(path))", token: token, headers: headers)
            }

            // Each point shows its own files.
            let root = try await files(fullMount, "/")
            #expect((root.json["files"] as? [[String: Any]])?.map { $0["name"] as? String } == partitions.map { $0["name"] as? String })
            let docsV1 = try await files(fullMount, ext4 + "/Documents")
            #expect((docsV1.json["files"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Reports", "big.bin", "empty.txt", "latest"])
            let docsV2 = try await files(incrementalMount, ext4 + "/Documents")
            #expect((docsV2.json["files"] as? [[String: Any]])?.map { $0["name"] as? String } == ["Reports", "big.bin", "empty.txt", "latest", "new.txt"])
            for (mount, tree) in [(fullMount, vm.treeV1), (incrementalMount, vm.treeV2)] {
                for (name, hash) in try TestDisks.fileHashes(tree) {
                    let answer = try await download(mount, ext4 + "/" + name)
                    #expect(answer.status == .ok, "\(name): \(answer.text.prefix(200))")
                    #expect(Self.sha256(answer.body) == hash, "\(name)")
                }
            }

            // Listing details and paging.
            let file = try #require((docsV1.json["files"] as? [[String: Any]])?.first { $0["name"] as? String == "big.bin" })
            #expect(file["size"] as? Int == 1 << 20 && file["type"] as? String == "file" && file["mode"] as? Int == 0o644)
            #expect(file["modified_time"] as? String == "2025-06-01T12:00:00Z")
            #expect(file["path"] as? String == ext4 + "/Documents/big.bin")
            let link = try #require((docsV1.json["files"] as? [[String: Any]])?.first { $0["name"] as? String == "latest" })
            #expect(link["is_symlink"] as? Bool == true && link["link_target"] as? String == "Reports/2025/q1 report.txt")
            let page = try await files(fullMount, ext4 + "/Documents", "&limit=2&offset=1")
            #expect((page.json["files"] as? [[String: Any]])?.map { $0["name"] as? String } == ["big.bin", "empty.txt"])
            #expect(page.json["total_count"] as? Int == 4)
            #expect(try await files(fullMount, ext4, "&limit=0").status == .badRequest)

            // Headers of a download, and ranges.
            let unicode = try await download(fullMount, ext4 + "/Données été/résumé 日本.txt")
            #expect(unicode.text == "ünïcödé 11\n")
            #expect(unicode.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(unicode.headers[.contentLength] == String(unicode.body.count))
            #expect(unicode.headers[.contentDisposition]?.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%E6%97%A5%E6%9C%AC.txt") == true)
            let big = try Data(contentsOf: URL(fileURLWithPath: vm.treeV1 + "/Documents/big.bin"))
            let ranged = try await download(fullMount, ext4 + "/Documents/big.bin", headers: [.range: "bytes=1000-1999"])
            #expect(ranged.status == .partialContent)
            #expect(ranged.headers[.contentRange] == "bytes 1000-1999/\(1 << 20)")
            #expect(ranged.body == big[1000..<2000])
            let tail = try await download(fullMount, ext4 + "/Documents/big.bin", headers: [.range: "bytes=-10"])
            #expect(tail.body == big.suffix(10))
            let outside = try await download(fullMount, ext4 + "/Documents/big.bin", headers: [.range: "bytes=99999999-"])
            #expect(outside.status == .rangeNotSatisfiable && outside.headers[.contentRange] == "bytes */\(1 << 20)")
            #expect(try await download(fullMount, ext4 + "/Documents/empty.txt").body.isEmpty)

            // Folders as archives, checked by Python: the whole partition,
            // whose names include non-ASCII ones (the tar writer once crashed the hub on them).
            let partitionFolder = String(ext4.dropFirst())
            for format in ["zip", "tar.gz"] {
                let answer = try await api.request(
                    .get, "/api/v1/restore/\(incrementalMount)/download-directory?path=\(Self.query(ext4))&format=\(format)",
                    token: token)
                #expect(answer.status == .ok, "\(answer.text.prefix(200))")
                let path = vm.folder + "/docs.\(format)"
                try answer.body.write(to: URL(fileURLWithPath: path))
                let contents = try Self.archiveContents(path, format: format)
                let expected = try TestDisks.fileHashes(vm.treeV2)
                #expect(Set(contents.keys.filter { !$0.hasSuffix("/latest") }) == Set(expected.keys.map { partitionFolder + "/" + $0 }))
                for (name, hash) in expected {
                    #expect(contents[partitionFolder + "/" + name]?.first as? String == hash, "\(format): \(name)")
                }
                #expect(contents[partitionFolder + "/Données été/résumé 日本.txt"] != nil, "\(format): \(contents.keys.sorted())")
                #expect(contents[partitionFolder + "/Documents/Reports/2025/chart.png"]?[2] as? Int == 1_748_779_200, "\(format) keeps mtimes")
                if format == "tar.gz" {
                    #expect(contents[partitionFolder + "/Documents/latest"]?.first as? String == "symlink:Reports/2025/q1 report.txt")
                }
                #expect(try await api.request(.get, "/api/v1/health").status == .ok, "the hub is alive after the \(format)")
            }
            // A multi-selection of one folder's entries, as one zip.
            let documents = Self.query(ext4 + "/Documents")
            let selection = try await api.request(
                .get, "/api/v1/restore/\(incrementalMount)/download-directory?path=\(documents)&select=big.bin&select=Reports", token: token)
            #expect(selection.status == .ok, "\(selection.text.prefix(200))")
            #expect(selection.headers[.contentDisposition]?.contains("Documents-selection.zip") == true)
            try selection.body.write(to: URL(fileURLWithPath: vm.folder + "/selection.zip"))
            let selected = try Self.archiveContents(vm.folder + "/selection.zip", format: "zip")
            #expect(selected.keys.sorted() == ["Reports/2025/chart.png", "Reports/2025/q1 report.txt", "big.bin"])
            #expect(selected["big.bin"]?.first as? String == (try TestDisks.fileHashes(vm.treeV2 + "/Documents"))["big.bin"])
            for (bad, status) in [("a%2Fb", HTTPResponse.Status.badRequest), ("..", .badRequest), ("nope", .notFound)] {
                let answer = try await api.request(
                    .get, "/api/v1/restore/\(incrementalMount)/download-directory?path=\(documents)&select=\(bad)", token: token)
                #expect(answer.status == status, "\(bad): \(answer.text)")
            }
            let folderAsZip = try await download(incrementalMount, ext4 + "/Documents/Reports")
            #expect(folderAsZip.headers[.contentType] == "application/zip" && folderAsZip.body.prefix(2) == Data("PK".utf8))
            #expect(try await api.request(.get, "/api/v1/restore/\(fullMount)/download-directory?path=/&format=rar", token: token).status == .badRequest)

            // Nothing reaches outside the image.
            for bad in ["/../../etc", "%2e%2e/%2e%2e/etc/passwd", "/a/%00/b", "etc/passwd", ext4 + "/Documents/../../.."] {
                let answer = try await api.request(.get, "/api/v1/restore/\(fullMount)/files?path=\(bad.contains("%") ? bad : Self.query(bad))", token: token)
                #expect(answer.status == .badRequest, "\(bad): \(answer.text)")
            }
            // Form-encoded queries: `+` is a space, `%2B` a plus; download links signed for them work too.
            let accents = ext4 + "/Données été"
            let formListing = try await api.request(.get, "/api/v1/restore/\(incrementalMount)/files?path=\(Self.formQuery(accents))", token: token)
            #expect(formListing.status == .ok, "\(formListing.text)")
            #expect((formListing.json["files"] as? [[String: Any]])?.map { $0["name"] as? String } == ["c++ notes.txt", "résumé 日本.txt"])
            #expect(formListing.json["path"] as? String == accents)
            let plusTarget = "/api/v1/restore/\(incrementalMount)/download?path=\(Self.formQuery(accents + "/c++ notes.txt"))"
            #expect(plusTarget.contains("c%2B%2B+notes"))
            let plusFile = try await api.request(.get, plusTarget, token: token)
            #expect(plusFile.status == .ok && plusFile.text == "a plus in the name\n", "\(plusFile.text)")
            let plusLink = try await api.request(.post, "/api/v1/auth/download-link", token: token, json: ["path": plusTarget])
            let plusSigned = try #require(plusLink.json["url"] as? String, "\(plusLink.text)")
            #expect(try await api.request(.get, plusSigned).text == "a plus in the name\n")

            let linkDownload = try await download(fullMount, ext4 + "/Documents/latest")
            #expect(linkDownload.status == .unprocessableContent, "\(linkDownload.text)")
            #expect(try await download(fullMount, ext4 + "/missing.txt").status == .notFound)
            #expect(try await api.request(.get, "/api/v1/restore/no-such-mount/files", token: token).status == .notFound)

            // Signed download links (what the browser follows): exact path only, role checked at use, die with logout.
            let bigPath = "/api/v1/restore/\(fullMount)/download?path=\(Self.query(ext4 + "/Documents/big.bin"))"
            let operatorToken = try await api.tokenFor(role: "operator", admin: token)
            let minted = try await api.request(.post, "/api/v1/auth/download-link", token: operatorToken, json: ["path": bigPath])
            let signed = try #require(minted.json["url"] as? String, "\(minted.text)")
            #expect(signed.hasPrefix(bigPath + "&download_token=") && minted.json["expires_at"] is String)
            let followed = try await api.request(.get, signed)
            #expect(followed.status == .ok && followed.body.count == 1 << 20, "\(followed.text.prefix(200))")
            #expect(Self.sha256(followed.body) == Self.sha256(try await download(fullMount, ext4 + "/Documents/big.bin").body))
            let otherFile = signed.replacingOccurrences(of: "big%2Ebin", with: "empty%2Etxt")
            #expect(otherFile != signed)
            #expect(try await api.request(.get, otherFile).status == .unauthorized)
            #expect(try await api.request(.get, signed.replacingOccurrences(of: "download_token=", with: "download_token=1")).status == .unauthorized)
            #expect(try await api.request(.post, "/api/v1/auth/download-link", token: token, json: ["path": "/api/v1/users"]).status == .badRequest)
            #expect(try await api.request(.post, "/api/v1/auth/download-link", token: token, json: ["path": "/api/v1/restore/x/download/../../users"]).status == .badRequest)
            let viewerToken = try await api.tokenFor(role: "viewer", admin: token)
            let viewerLink = try await api.request(.post, "/api/v1/auth/download-link", token: viewerToken, json: ["path": bigPath])
            #expect(try await api.request(.get, try #require(viewerLink.json["url"] as? String)).status == .forbidden)
            _ = try await api.request(.post, "/api/v1/auth/logout", token: operatorToken)
            #expect(try await api.request(.get, signed).status == .unauthorized, "a link dies with the session that made it")

            // Keepalive, unmount, and deleting a backup closes its sessions.
            let kept = try await api.request(.post, "/api/v1/restore/\(fullMount)/keepalive", token: token)
            #expect(kept.status == .ok && kept.json["expires_at"] is String)
            let closed = try await api.request(.delete, "/api/v1/restore/\(fullMount)", token: token)
            #expect(closed.json["message"] as? String == "backup unmounted successfully")
            #expect(try await files(fullMount, "/").status == .notFound)
            let deleted = try await api.request(.delete, "/api/v1/backups/\(fullID)?cascade=true", token: token)
            #expect(deleted.status == .ok, "\(deleted.text)")
            #expect(try await api.request(.get, "/api/v1/restore/mounts", token: token).json["count"] as? Int == 0)
            #expect(try await files(incrementalMount, "/").status == .notFound)
        }
        try? FileManager.default.removeItem(atPath: vm.folder)
    }

    @Test("a VM whose LVM2 volume group spans its two disks: XFS and ext4 logical volumes browsed and downloaded from either disk")
    func lvmVolumes() async throws {
        let folder = scratchFolder()
        for index in 0...1 {
            try mustRun(["cp", packageRoot + "/Tests/Fixtures/lvm-disk\(index).qcow2", folder + "/disk\(index).qcow2"])
        }
        let expected = try JSONDecoder().decode([String: [String: String]].self,
                                                from: Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/lvm-files.json")))
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            let registered = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "rhel9", "source": ["type": "qemu_image", "disks": [["path": folder + "/disk0.qcow2", "label": "vda"],
                                                                              ["path": folder + "/disk1.qcow2", "label": "vdb"]]],
            ])
            try #require(registered.status == .created, "\(registered.text)")
            let started = try await api.request(.post, "/api/v1/backups", token: token,
                                                json: ["vm_name": "rhel9", "repository_id": "1", "backup_type": "full"])
            let id = try #require(started.json["backup_id"] as? String, "\(started.text)")
            #expect(try await api.waitForBackup(id, token: token).json["status"] as? String == "completed")

            for disk in 0...1 {
                let mounted = try await Self.mount(api, token, id, disk: disk)
                #expect(mounted.status == .created, "\(mounted.text)")
                let mount = try #require(mounted.json["mount_id"] as? String)
                let partitions = try #require(mounted.json["partitions"] as? [[String: Any]])
                let names = partitions.compactMap { $0["name"] as? String }
                #expect(names.suffix(3) == ["vgdata-root (320.0 MB)", "vgdata-home (24.0 MB)", "vgdata-stripes (16.0 MB)"], "\(names)")
                #expect(partitions.suffix(3).map { $0["filesystem_type"] as? String } == ["xfs", "ext4", "ext4"])
                for (volume, key) in [("vgdata-root (320.0 MB)", "root"), ("vgdata-home (24.0 MB)", "home"), ("vgdata-stripes (16.0 MB)", "stripes")] {
                    for (path, hash) in expected[key] ?? [:] {
                        let answer = try await api.request(
                            .get, "/api/v1/restore/\(mount)/download?path=\(Self.query("/" + volume + "/" + path))", token: token)
                        #expect(answer.status == .ok && Self.sha256(answer.body) == hash, "disk \(disk): \(volume)/\(path): \(answer.text.prefix(200))")
                    }
                }
                // The XFS volume as one zip, checked by Python.
                let zip = try await api.request(
                    .get, "/api/v1/restore/\(mount)/download-directory?path=\(Self.query("/vgdata-root (320.0 MB)"))&format=zip", token: token)
                #expect(zip.status == .ok)
                try zip.body.write(to: URL(fileURLWithPath: folder + "/root\(disk).zip"))
                let contents = try Self.archiveContents(folder + "/root\(disk).zip", format: "zip")
                #expect(Dictionary(uniqueKeysWithValues: contents.map { ($0.key.replacingOccurrences(of: "vgdata-root (320.0 MB)/", with: ""), $0.value.first as? String ?? "") })
                        == expected["root"], "\(contents.keys.sorted())")
            }
        }
    }

    @Test("a btrfs disk (zstd, zlib and LZO extents, a subvolume): every file downloads byte-identical, the folder as tar.gz")
    func btrfsVolume() async throws {
        let folder = scratchFolder()
        try mustRun(["cp", packageRoot + "/Tests/Fixtures/btrfs.qcow2", folder + "/disk.qcow2"])
        struct Expected: Decodable { let files: [String: String] }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: packageRoot + "/Tests/Fixtures/btrfs-files.json"))).files
        let hub = try await TestHub.make()
        try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "sles15", "source": ["type": "qemu_image", "disks": [["path": folder + "/disk.qcow2", "label": "vda"]]],
            ])
            let id = try await Self.backup(api, token, type: "full", vm: "sles15")
            let mounted = try await Self.mount(api, token, id)
            #expect(mounted.json["filesystem_type"] as? String == "btrfs", "\(mounted.text)")
            let mount = try #require(mounted.json["mount_id"] as? String)
            for (path, hash) in expected {
                let answer = try await api.request(.get, "/api/v1/restore/\(mount)/download?path=\(Self.formQuery("/" + path))", token: token)
                #expect(answer.status == .ok && Self.sha256(answer.body) == hash, "\(path): \(answer.text.prefix(200))")
            }
            let archive = try await api.request(.get, "/api/v1/restore/\(mount)/download-directory?path=/&format=tar.gz", token: token)
            try archive.body.write(to: URL(fileURLWithPath: folder + "/all.tar.gz"))
            let contents = try Self.archiveContents(folder + "/all.tar.gz", format: "tar.gz")
            let prefix = "\(id)-disk0/"
            #expect(Dictionary(uniqueKeysWithValues: contents.compactMap { key, value in
                (value.first as? String).flatMap { $0.hasPrefix("symlink:") ? nil : (String(key.dropFirst(prefix.count)), $0) }
            }) == expected, "\(contents.keys.sorted())")
        }
    }

    @Test("session limit, folder size limit, expiry, and no session row survives a restart")
    func limitsAndExpiry() async throws {
        let vm = try Self.makeVM()
        let folder = scratchFolder()
        let limits = RestoreSessionLimits(maxSessions: 1, idleLifetime: 1, sweepInterval: 0.2, maxFolderDownloadBytes: 100_000)
        try mustRun(["cp", vm.disk, vm.folder + "/copy.qcow2"])
        let hub = try await TestHub.make(dataDirectory: folder, restoreSessions: limits)
        let id = try await hub.run { api in
            let token = try await api.login()
            _ = try await api.request(.post, "/api/v1/vm-contexts", token: token, json: [
                "vm_name": "files1",
                "source": ["type": "qemu_image", "disks": [["path": vm.disk, "label": "vda"], ["path": vm.folder + "/copy.qcow2", "label": "copy"]]],
            ])
            let id = try await Self.backup(api, token, type: "full")
            let first = try await Self.mount(api, token, id)
            let mount = try #require(first.json["mount_id"] as? String)
            let second = try await Self.mount(api, token, id, disk: 1)
            #expect(second.status == .conflict, "\(second.text)")

            let documents = Self.query("/Partition 1 - data (16.0 MB)/Documents")
            let tooBig = try await api.request(.get, "/api/v1/restore/\(mount)/download-directory?path=\(documents)", token: token)
            #expect(tooBig.status == .contentTooLarge, "\(tooBig.text)")
            #expect(tooBig.error?.contains("confirm=true") == true)
            let confirmed = try await api.request(.get, "/api/v1/restore/\(mount)/download-directory?path=\(documents)&confirm=true", token: token)
            #expect(confirmed.status == .ok)
            #expect(try await hub.hub.catalog.mounts().count == 1)

            try await Task.sleep(for: .milliseconds(1800))
            let expired = try await api.request(.get, "/api/v1/restore/\(mount)/files", token: token)
            #expect(expired.status == .gone, "\(expired.text)")
            #expect(expired.error?.contains("mount the backup again") == true)
            #expect(try await hub.hub.catalog.mounts().isEmpty)
            #expect(try await Self.mount(api, token, id, disk: 1).status == .created)
            return id
        }
        let catalog = try CatalogDatabase(path: folder + "/catalog.sqlite")
        #expect(try await catalog.mounts().isEmpty, "closed at shutdown")

        // A row left by a hub that died (kill -9) is gone after the next start.
        let disk = try #require(try await catalog.backupDisks(of: id).first)
        try await catalog.insertMount(RestoreMountRecord(
            mountId: "left-behind", backupId: id, backupDiskId: disk.id ?? 0, diskIndex: 0, filesystemType: "ext4",
            createdAt: Date(), expiresAt: Date() + 3600))
        try catalog.close()
        let restarted = try await TestHub.make(dataDirectory: folder)
        #expect(try await restarted.hub.catalog.mounts().isEmpty)
        try? FileManager.default.removeItem(atPath: vm.folder)
    }
}
