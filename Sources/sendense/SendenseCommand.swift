import ArgumentParser
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
            VMsCommand.self, VCenterCommand.self, ReposCommand.self, UsersCommand.self, BackupCommand.self, RestoreCommand.self, JobsCommand.self,
            FlowsCommand.self, GroupsCommand.self,
        ]
    )
}
