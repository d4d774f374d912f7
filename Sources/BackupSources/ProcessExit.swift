import Foundation

extension Process {
    /// A semaphore signalled when the process ends. Foundation's
    /// `waitUntilExit()` polls every 50 ms, which a backup paid once per
    /// tool it ran; the termination handler fires as soon as the child is
    /// reaped. Install it before `run()`.
    func exitSignal() -> DispatchSemaphore {
        let exited = DispatchSemaphore(value: 0)
        terminationHandler = { _ in exited.signal() }
        return exited
    }
}
