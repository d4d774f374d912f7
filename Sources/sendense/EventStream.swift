import AsyncHTTPClient
import Foundation
import NIOCore
import Synchronization

extension APIClient {
    /// One event of the hub's stream (`GET /events`, server-sent events).
    struct Event: Sendable {
        var name: String
        var data: String
    }

    /// Reads the hub's event stream, handing each named event to `handle`
    /// until it answers false or the stream ends. Comments (the heartbeat)
    /// and unnamed events are skipped.
    func readEvents(_ handle: (Event) -> Bool) async throws {
        var request = HTTPClientRequest(url: baseURL + "/api/v1/events")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .hours(24 * 365))
        guard response.status == .ok else { throw CLIError("the hub's event stream answered HTTP \(response.status.code)") }
        var parser = EventParser()
        for try await piece in response.body {
            for event in parser.events(in: piece.readableBytesView) where !handle(event) { return }
        }
    }
}

/// Splits server-sent events out of the bytes as they come: `event:` and
/// `data:` lines, an empty line ending each event (the HTML standard's
/// format, of which the hub sends this much).
struct EventParser {
    private var line: [UInt8] = []
    private var name = ""
    private var data: [String] = []

    mutating func events(in bytes: some Collection<UInt8>) -> [APIClient.Event] {
        var events: [APIClient.Event] = []
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                line.append(byte)
                continue
            }
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            line.removeAll(keepingCapacity: true)
            if text.isEmpty {
                if !name.isEmpty { events.append(.init(name: name, data: data.joined(separator: "\n"))) }
                (name, data) = ("", [])
            } else if let value = Self.value(of: "event", in: text) {
                name = value
            } else if let value = Self.value(of: "data", in: text) {
                data.append(value)
            }
        }
        return events
    }

    /// The value of a `field: value` line, or nil for another field (or a `:` comment).
    private static func value(of field: String, in line: String) -> String? {
        guard line.hasPrefix(field + ":") else { return nil }
        let value = line.dropFirst(field.count + 1)
        return String(value.first == " " ? value.dropFirst() : value)
    }
}

/// Raised once, by one task; awaited, with a time limit, by another.
final class Signal: Sendable {
    private struct State {
        var raised = false
        /// The wait under way, numbered: a timer only ends the wait it was started for.
        var waiter: (number: Int, continuation: CheckedContinuation<Void, Never>)?
        var waits = 0
    }

    private let state = Mutex(State())

    var isRaised: Bool { state.withLock { $0.raised } }

    func raise() {
        state.withLock { state in
            state.raised = true
            return state.waiter.take()?.continuation
        }?.resume()
    }

    /// Returns when the signal is raised, or after `limit`. One waiter at a time.
    func wait(upTo limit: Duration) async {
        await withCheckedContinuation { continuation in
            let number: Int? = state.withLock { state in
                guard !state.raised else { return nil }
                state.waits += 1
                state.waiter = (state.waits, continuation)
                return state.waits
            }
            guard let number else { return continuation.resume() }
            Task {
                try? await Task.sleep(for: limit)
                state.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard state.waiter?.number == number else { return nil }
                    return state.waiter.take()?.continuation
                }?.resume()
            }
        }
    }
}
