import Foundation

/// Counts failed logins per user name and per client address in a sliding
/// window. Once either count reaches its limit, further attempts are refused
/// before the password is even checked, so guessing gains nothing.
actor LoginRateLimiter {
    private let limits: LoginLimits
    private var failuresByUser: [String: [Date]] = [:]
    private var failuresByAddress: [String: [Date]] = [:]

    init(limits: LoginLimits) { self.limits = limits }

    /// Seconds until another attempt is allowed, or nil when allowed now.
    func retryAfter(user: String, address: String, now: Date = Date()) -> Int? {
        prune(now: now)
        let key = user.lowercased()
        var waits: [TimeInterval] = []
        if let failures = failuresByUser[key], failures.count >= limits.maxFailuresPerUser, let first = failures.first {
            waits.append(first.addingTimeInterval(limits.window).timeIntervalSince(now))
        }
        if let failures = failuresByAddress[address], failures.count >= limits.maxFailuresPerAddress, let first = failures.first {
            waits.append(first.addingTimeInterval(limits.window).timeIntervalSince(now))
        }
        return waits.max().map { max(1, Int($0.rounded(.up))) }
    }

    func recordFailure(user: String, address: String, now: Date = Date()) {
        failuresByUser[user.lowercased(), default: []].append(now)
        failuresByAddress[address, default: []].append(now)
    }

    /// A successful login clears the user's count (not the address's: one
    /// good account must not unlock guessing at others).
    func recordSuccess(user: String) {
        failuresByUser[user.lowercased()] = nil
    }

    private func prune(now: Date) {
        let cutoff = now.addingTimeInterval(-limits.window)
        failuresByUser = failuresByUser.compactMapValues { list in
            let kept = list.filter { $0 > cutoff }
            return kept.isEmpty ? nil : kept
        }
        failuresByAddress = failuresByAddress.compactMapValues { list in
            let kept = list.filter { $0 > cutoff }
            return kept.isEmpty ? nil : kept
        }
    }
}
