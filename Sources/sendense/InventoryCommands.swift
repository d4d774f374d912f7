import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

struct VMsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vms", abstract: "List, inspect and register VMs.",
        subcommands: [List.self, Disks.self, Add.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the VMs the hub protects.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/vm-contexts", as: VMContextListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["NAME", "SOURCE", "POWER", "CPU", "MEMORY", "LAST BACKUP", "STATUS"])
            for vm in answer.value.vmContexts {
                table.rows.append([
                    vm.vmName, cell(vm.sourceType), cell(vm.powerState), cell(vm.cpuCount),
                    vm.memoryMb.map { "\($0) MB" } ?? "-", cell(vm.lastBackupAt), vm.currentStatus,
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
            let answer = try await APIClient.make(options).send(.GET, "/vm-contexts/\(name)/disks", as: DiskListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["INDEX", "LABEL", "SIZE", "PATH"])
            for disk in answer.value.disks {
                table.rows.append([cell(disk.diskIndex), disk.label, humanBytes(disk.capacityBytes), disk.path])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a VM made of qcow2 or raw image files, or a running QEMU by its QMP socket, on the hub.",
            discussion: """
                Examples: sendense vms add web1 --disk /var/lib/libvirt/images/web1.qcow2:vda
                          sendense vms add pve-101 --qmp /var/run/qemu-server/101.qmp   (backed up live)
                          sendense vms add vm7 --qmp /run/vm7.qmp --agent /run/vm7.qga  (frozen by its guest agent)
                """)
        @OptionGroup var options: ClientOptions
        @Argument(help: "VM name.") var vmName: String
        @Option(name: .customLong("disk"), help: "PATH[:LABEL] of a disk image, in order (repeatable).") var disks: [String] = []
        @Option(name: .customLong("qmp"), help: "The QMP socket of a running QEMU: its disks are asked from it.") var socket: String?
        @Option(name: .customLong("agent"), help: "With --qmp: the socket of its guest agent's channel (application-consistent backups).")
        var agentSocket: String?

        func validate() throws {
            guard disks.isEmpty != (socket == nil) else { throw ValidationError("give either --disk (image files) or --qmp (a running QEMU)") }
            if agentSocket != nil, socket == nil { throw ValidationError("--agent goes with --qmp") }
        }

        func run() async throws {
            let list = disks.map { spec -> NewVMContextRequest.Source.Disk in
                let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
                return parts.count == 2 ? .init(path: parts[0], label: parts[1]) : .init(path: spec, label: nil)
            }
            let source: NewVMContextRequest.Source = socket.map { .init(type: SourceKind.qmp.rawValue, socket: $0, agentSocket: agentSocket) }
                ?? .init(type: SourceKind.qemuImage.rawValue, disks: list)
            let answer = try await APIClient.make(options).send(.POST, "/vm-contexts", body: NewVMContextRequest(vmName: vmName, source: source),
                                                                as: VMContextResponse.self)
            if options.json { return try answer.printJSON() }
            print(socket == nil ? "registered \(vmName) with \(list.count) disk(s)" : "registered \(vmName), a running QEMU backed up live")
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
            let answer = try await APIClient.make(options).send(.GET, "/repositories", as: RepositoryListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "NAME", "TYPE", "STATUS", "USED", "FREE", "TOTAL", "BACKUPS", "PATH"])
            for repo in answer.value.repositories {
                table.rows.append([
                    repo.id, repo.name, cell(repo.type), repo.status, humanBytes(repo.usedBytes), humanBytes(repo.availableBytes),
                    humanBytes(repo.totalBytes), cell(repo.backupCount), repo.path,
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
            try await APIClient.make(options).send(.GET, "/repositories/\(id)/storage", as: RepositoryResponse.self).printJSON()
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a repository: --path for local, --nfs-server/--nfs-export, or --cifs-share.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Repository name.") var name: String
        @Option(help: "local, nfs or cifs.") var type: RepositoryKind = .local
        @Option(help: "Folder on the hub (local).") var path: String?
        @Option(name: .customLong("nfs-server")) var nfsServer: String?
        @Option(name: .customLong("nfs-export")) var nfsExport: String?
        @Option(name: .customLong("cifs-share"), help: "//server/share") var cifsShare: String?
        @Option(help: "CIFS user name.") var username: String?
        @Flag(name: .customLong("password-stdin"), help: "Read the CIFS password from standard input.") var passwordStdin = false
        @Option(name: .customLong("mount-options")) var mountOptions: String?

        func run() async throws {
            let request = NewRepositoryRequest(name: name, type: type, path: path, nfsServer: nfsServer, nfsExport: nfsExport,
                                               cifsShare: cifsShare, username: username,
                                               password: passwordStdin ? readLine(strippingNewline: true) : nil, mountOptions: mountOptions)
            let answer = try await APIClient.make(options).send(.POST, "/repositories", body: request, as: RepositoryResponse.self)
            if options.json { return try answer.printJSON() }
            let repo = answer.value
            print("added repository \(repo.id) \(name) at \(repo.path) (\(humanBytes(repo.availableBytes)) free)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a repository from the hub (its files stay).")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Repository id.") var id: Int

        func run() async throws {
            try await APIClient.make(options).send(.DELETE, "/repositories/\(id)")
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
            let answer = try await APIClient.make(options).send(.GET, "/users", as: UserListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "USERNAME", "ROLE", "CREATED"])
            for user in answer.value.users {
                table.rows.append([cell(user.id), user.username, cell(user.role), cell(user.createdAt)])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user; the password is read from standard input.")
        @OptionGroup var options: ClientOptions
        @Argument var username: String
        @Option(help: "admin, operator or viewer.") var role: UserRole = .viewer

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw CLIError("give the new user's password on standard input")
            }
            let answer = try await APIClient.make(options).send(
                .POST, "/users", body: NewUserRequest(username: username, password: password, role: role), as: UserResponse.self)
            if options.json { return try answer.printJSON() }
            print("added user \(username) (\(role.rawValue)), id \(answer.value.id)")
        }
    }

    struct SetRole: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "set-role", abstract: "Change a user's role.")
        @OptionGroup var options: ClientOptions
        @Argument var id: Int
        @Argument(help: "admin, operator or viewer.") var role: UserRole

        func run() async throws {
            _ = try await APIClient.make(options).send(.PUT, "/users/\(id)", body: UserUpdateRequest(role: role), as: UserResponse.self)
            print("user \(id) is now \(role.rawValue)")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a user.")
        @OptionGroup var options: ClientOptions
        @Argument var id: Int

        func run() async throws {
            try await APIClient.make(options).send(.DELETE, "/users/\(id)")
            print("user \(id) deleted")
        }
    }
}

extension RepositoryKind: ExpressibleByArgument {}
extension UserRole: ExpressibleByArgument {}
