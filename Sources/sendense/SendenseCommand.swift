import ArgumentParser
import FileRestore
import SendenseCore

@main
struct SendenseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sendense",
        abstract: "Sendense: VM backup and restore for vSphere and KVM.",
        discussion: """
            `sendense hub` runs the hub. The other commands talk to a running hub over its REST API \
            with the token `sendense login` keeps in ~/.config/sendense/ (SENDENSE_URL and SENDENSE_TOKEN override it).
            """,
        version: SendenseVersion.current,
        subcommands: [
            HubCommand.self, AdminCommand.self, LoginCommand.self, LogoutCommand.self,
            VMsCommand.self, VCenterCommand.self, LibvirtCommand.self, ReposCommand.self, UsersCommand.self, BackupCommand.self, RestoreCommand.self, RecoveryCommand.self, JobsCommand.self,
            FlowsCommand.self, GroupsCommand.self,
        ]
    )

    /// `sendense flr-worker …` is the file-restore worker the hub starts for
    /// a session (not a command for people): it is dispatched before the
    /// argument parser and any other thread start, since the worker confines
    /// itself with Landlock, which binds the calling thread and those it starts later.
    static func main() async {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == FileRestoreWorkerProcess.command {
            FileRestoreWorkerProcess.run(arguments: Array(arguments.dropFirst()))
        }
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
