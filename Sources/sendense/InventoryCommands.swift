import ArgumentParser
import Foundation

struct VMsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vms", abstract: "List, inspect and register VMs.",
        subcommands: [List.self, Disks.self, Add.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the VMs the hub protects.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/vm-contexts")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["NAME", "SOURCE", "POWER", "CPU", "MEMORY", "LAST BACKUP", "STATUS"])
            for vm in (answer as? [String: Any])?["vm_contexts"] as? [[String: Any]] ?? [] {
                table.rows.append([
                    cell(vm["vm_name"]), cell(vm["source_type"]), cell(vm["power_state"]), cell(vm["cpu_count"]),
                    (vm["memory_mb"] as? Int).map { "\($0) MB" } ?? "-", cell(vm["last_backup_at"]), cell(vm["current_status"]),
                ])
            }
            print(table.render())
        }
    }

    struct Disks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the disks of a VM.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM name.") var vmName: String

        func run() async throws {
            let name = vmName.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? vmName
            let answer = try await APIClient.make(options).call(.GET, "/vm-contexts/\(name)/disks")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["INDEX", "LABEL", "SIZE", "PATH"])
            for disk in (answer as? [String: Any])?["disks"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(disk["disk_index"]), cell(disk["label"]), humanBytes(disk["capacity_bytes"]), cell(disk["path"])])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a VM made of qcow2 or raw image files on the hub.",
            discussion: "Example: sendense vms add web1 --disk /var/lib/libvirt/images/web1.qcow2:vda")
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM name.") var vmName: String
        @Option(name: .customLong("disk"), help: "PATH[:LABEL] of a disk image, in order (repeatable).") var disks: [String]

        func run() async throws {
            let list = disks.map { spec -> [String: String] in
                let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
                return parts.count == 2 ? ["path": parts[0], "label": parts[1]] : ["path": spec]
            }
            let answer = try await APIClient.make(options).call(
                .POST, "/vm-contexts", body: ["vm_name": vmName, "source": ["type": "qemu_image", "disks": list]])
            if options.json { return try printJSON(answer) }
            print("registered \(vmName) with \(list.count) disk(s)")
        }
    }
}

struct ReposCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repos", abstract: "Manage backup repositories.",
        subcommands: [List.self, Show.self, Add.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List repositories with their capacity.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/repositories")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "NAME", "TYPE", "STATUS", "USED", "FREE", "TOTAL", "BACKUPS", "PATH"])
            for repo in (answer as? [String: Any])?["repositories"] as? [[String: Any]] ?? [] {
                table.rows.append([
                    cell(repo["id"]), cell(repo["name"]), cell(repo["type"]), cell(repo["status"]),
                    humanBytes(repo["used_bytes"]), humanBytes(repo["available_bytes"]), humanBytes(repo["total_bytes"]),
                    cell(repo["backup_count"]), cell(repo["path"]),
                ])
            }
            print(table.render())
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one repository, capacity freshly read.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Repository id.") var id: Int

        func run() async throws {
            try printJSON(try await APIClient.make(options).call(.GET, "/repositories/\(id)/storage"))
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a repository: --path for local, --nfs-server/--nfs-export, or --cifs-share.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Repository name.") var name: String
        @Option(help: "local, nfs or cifs.") var type = "local"
        @Option(help: "Folder on the hub (local).") var path: String?
        @Option(name: .customLong("nfs-server")) var nfsServer: String?
        @Option(name: .customLong("nfs-export")) var nfsExport: String?
        @Option(name: .customLong("cifs-share"), help: "//server/share") var cifsShare: String?
        @Option(help: "CIFS user name.") var username: String?
        @Flag(name: .customLong("password-stdin"), help: "Read the CIFS password from standard input.") var passwordStdin = false
        @Option(name: .customLong("mount-options")) var mountOptions: String?

        func run() async throws {
            var body: [String: Any] = ["name": name, "type": type]
            body["path"] = path
            body["nfs_server"] = nfsServer
            body["nfs_export"] = nfsExport
            body["cifs_share"] = cifsShare
            body["username"] = username
            body["mount_options"] = mountOptions
            if passwordStdin { body["password"] = readLine(strippingNewline: true) }
            let answer = try await APIClient.make(options).call(.POST, "/repositories", body: body)
            if options.json { return try printJSON(answer) }
            let repo = answer as? [String: Any]
            print("added repository \(cell(repo?["id"])) \(name) at \(cell(repo?["path"])) (\(humanBytes(repo?["available_bytes"])) free)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a repository from the hub (its files stay).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Repository id.") var id: Int

        func run() async throws {
            try await APIClient.make(options).call(.DELETE, "/repositories/\(id)")
            print("repository \(id) removed")
        }
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage users (admins only).",
        subcommands: [List.self, Add.self, SetRole.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/users")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "USERNAME", "ROLE", "CREATED"])
            for user in (answer as? [String: Any])?["users"] as? [[String: Any]] ?? [] {
                table.rows.append([cell(user["id"]), cell(user["username"]), cell(user["role"]), cell(user["created_at"])])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password is read from standard input.")
        @OptionGroup var options: ClientOptions
        @Argument var username: String
        @Option(help: "admin, operator or viewer.") var role = "viewer"

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw CLIError("give the new user's password on standard input")
            }
            let answer = try await APIClient.make(options).call(
                .POST, "/users", body: ["username": username, "password": password, "role": role])
            if options.json { return try printJSON(answer) }
            print("added user \(username) (\(role)), id \(cell((answer as? [String: Any])?["id"]))")
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role", abstract: "Change a user's role.")
        @OptionGroup var options: ClientOptions
        @Argument var id: Int
        @Argument(help: "admin, operator or viewer.") var role: String

        func run() async throws {
            try await APIClient.make(options).call(.PUT, "/users/\(id)", body: ["role": role])
            print("user \(id) is now \(role)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @OptionGroup var options: ClientOptions
        @Argument var id: Int

        func run() async throws {
            try await APIClient.make(options).call(.DELETE, "/users/\(id)")
            print("user \(id) deleted")
        }
    }
}
