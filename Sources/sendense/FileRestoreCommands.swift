import ArgumentParser
import Foundation
import SendenseAPI

/// `sendense restore mount|mounts|ls|get|umount`: browse a backup disk and
/// download files or folders from it.
enum FileRestoreCommands {
    static func encode(_ path: String) -> String {
        path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? path
    }

    struct Mount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Open a backup disk for browsing; prints the mount id.")
        @OptionGroup var options: ClientOptions
        @Argument var backupID: String
        @Option(name: .customLong("disk"), help: "Disk index.") var diskIndex = 0

        func run() async throws {
            let answer = try await APIClient.make(options).send(
                .POST, "/restore/mount", body: MountRequest(backupId: backupID, diskIndex: diskIndex), as: MountResponse.self)
            if options.json { return try answer.printJSON() }
            let mount = answer.value
            print("mount \(mount.mountId) (\(mount.filesystemType), expires \(cell(mount.expiresAt)))")
            var table = Table(headers: ["#", "FOLDER", "FILESYSTEM", "SIZE"])
            for partition in mount.partitions {
                table.rows.append([cell(partition.index), partition.name, partition.filesystemType, cell(partition.sizeBytes)])
            }
            print(table.render())
        }
    }

    struct Mounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open restore sessions.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/restore/mounts", as: MountListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["MOUNT", "BACKUP", "DISK", "FILESYSTEM", "EXPIRES"])
            for mount in answer.value.mounts {
                table.rows.append([mount.mountId, mount.backupId, cell(mount.diskIndex), mount.filesystemType, cell(mount.expiresAt)])
            }
            print(table.render())
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List a folder of a mounted backup disk.")
        @OptionGroup var options: ClientOptions
        @Argument var mountID: String
        @Argument var path = "/"

        func run() async throws {
            let client = try APIClient.make(options)
            var files: [FileListResponse.File] = []
            var shown = path
            // Page through large folders.
            while true {
                let page = try await client.send(.GET, "/restore/\(mountID)/files?path=\(encode(path))&limit=10000&offset=\(files.count)",
                                                 as: FileListResponse.self).value
                shown = page.path
                files += page.files
                if page.files.isEmpty || files.count >= page.totalCount { break }
            }
            if options.json {
                // The whole folder as one page.
                let all = FileListResponse(mountId: mountID, path: shown, files: files, totalCount: files.count, limit: files.count, offset: 0)
                return try printJSON(try JSONSerialization.jsonObject(with: try APIJSON.encoder.encode(all)))
            }
            var table = Table(headers: ["TYPE", "SIZE", "MODIFIED", "NAME"])
            for file in files {
                let type = file.isSymlink ? "link" : file.type == "directory" ? "dir" : "file"
                let name = file.name + (file.linkTarget.map { " -> \($0)" } ?? "")
                table.rows.append([type, cell(file.size), cell(file.modifiedTime), name])
            }
            print(table.render())
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Download a file, or a folder as zip or tar.gz, from a mounted backup disk.")
        @OptionGroup var options: ClientOptions
        @Argument var mountID: String
        @Argument var path: String
        @Option(name: .shortAndLong, help: "Where to write it (default: the name in the current folder).") var output: String?
        @Option(help: "Download a folder as zip or tar.gz.") var archive: String?
        @Flag(help: "Download a folder larger than the hub's limit.") var confirm = false

        func run() async throws {
            if let archive, !["zip", "tar.gz"].contains(archive) { throw ValidationError("--archive must be zip or tar.gz") }
            let name = path.split(separator: "/").last.map(String.init) ?? "root"
            let target = output ?? (archive.map { name + "." + $0 } ?? name)
            guard !FileManager.default.fileExists(atPath: target) else { throw CLIError("\(target) already exists") }
            var route = archive.map { "/restore/\(mountID)/download-directory?path=\(encode(path))&format=\($0)" }
                ?? "/restore/\(mountID)/download?path=\(encode(path))"
            if confirm { route += "&confirm=true" }
            let bytes = try await APIClient.make(options).download(route, to: target)
            print("\(target): \(bytes) bytes")
        }
    }

    struct Unmount: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "umount", abstract: "Close a restore session.")
        @OptionGroup var options: ClientOptions
        @Argument var mountID: String

        func run() async throws {
            let answer = try await APIClient.make(options).send(.DELETE, "/restore/\(mountID)", as: UnmountResponse.self)
            if options.json { return try answer.printJSON() }
            print("closed \(mountID)")
        }
    }
}
