/// vCenter tasks: started by a `…_Task` method, followed until they end.
extension VSphereClient {
    /// Waits for `task` to end; answers its result (a snapshot reference, say)
    /// or throws `taskFailed` with vCenter's message. Polls its info, quickly
    /// at first (most tasks here take under a second), then every second.
    @discardableResult
    public func waitForTask(_ task: ManagedObjectReference, progress: (@Sendable (Int) -> Void)? = nil) async throws -> SOAPElement? {
        var delay = Duration.milliseconds(50)
        while true {
            let info = try await properties(of: task, ["info"])["info"]
            switch info?.text("state") {
            case "success":
                return info?["result"]
            case "error":
                let fault = info?["error"].map(SOAPFault.parseLocalized) ?? SOAPFault(type: "Fault", message: "the task failed")
                throw VSphereError.taskFailed(task: info?.text("descriptionId") ?? task.value, fault)
            case "queued", "running":
                if let percent = info?.int("progress") { progress?(percent) }
            default:
                throw VSphereError.badResponse("task \(task.value) has no state")
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(1))
        }
    }

    /// Invokes a `…_Task` method and waits for the task.
    @discardableResult
    public func runTask(_ method: String, on this: ManagedObjectReference, _ parameters: String = "") async throws -> SOAPElement? {
        let answer = try await invoke(method, on: this, parameters)
        guard let task = answer["returnval"]?.reference else { throw VSphereError.badResponse("\(method) started no task") }
        return try await waitForTask(task)
    }
}
