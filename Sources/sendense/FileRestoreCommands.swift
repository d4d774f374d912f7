import ArgumentParser
import Foundation

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
            let answer = try await APIClient.make(options).call(
                .POST, "/restore/mount", body: ["backup_id": backupID, "disk_index": diskIndex]) as? [String: Any]
            if options.json { return try printJSON(answer) }
            print("mount \(cell(answer?["mount_id"])) (\(cell(answer?["filesystem_type"])), expires \(cell(answer?["expires_at"])))")
            var table = Table(headers: ["#", "FOLDER", "FILESYSTEM", "SIZE"])
            for partition in answer?["partitions"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(partition["index"]), cell(partition["name"]), cell(partition["filesystem_type"]),
                                   cell(partition["size_bytes"])])
            }
            print(table.render())
        }
    }

    struct Mounts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List open restore sessions.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/restore/mounts") as? [String: Any]
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["MOUNT", "BACKUP", "DISK", "FILESYSTEM", "EXPIRES"])
            for mount in answer?["mounts"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(mount["mount_id"]), cell(mount["backup_id"]), cell(mount["disk_index"]),
                                   cell(mount["filesystem_type"]), cell(mount["expires_at"])])
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
            var files: [[String: Any]] = []
            var answer: [String: Any]?
            // Page through large folders.
            repeat {
                answer = try await client.call(.GET, "/restore/\(mountID)/files?path=\(encode(path))&limit=10000&offset=\(files.count)") as? [String: Any]
                let page = answer?["files"] as? [[String: Any]] ?? []
                files += page
                if page.isEmpty { break }
            } while files.count < (answer?["total_count"] as? Int ?? 0)
            if options.json { return try printJSON(["mount_id": mountID, "path": answer?["path"] ?? path, "files": files, "total_count": files.count]) }
            var table = Table(headers: ["TYPE", "SIZE", "MODIFIED", "NAME"])
            for file in files {
                let type = file["is_symlink"] as? Bool == true ? "link" : cell(file["type"]) == "directory" ? "dir" : "file"
                let name = cell(file["name"]) + (file["link_target"] is String ? " -> \(cell(file["link_target"]))" : "")
                table.rows.append([type, cell(file["size"]), cell(file["modified_time"]), name])
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
            let answer = try await APIClient.make(options).call(.DELETE, "/restore/\(mountID)")
            if options.json { return try printJSON(answer) }
            print("closed \(mountID)")
        }
    }
}
