import Foundation
import SendenseCore
import Testing

@Suite("Blocking work off the cooperative pool")
struct BlockingPoolTests {
    @Test("blocked calls do not hold up the ones behind them: 16 calls blocked at once all end together")
    func blockedCallsRunSideBySide() async throws {
        let pool = BlockingPool(maxThreads: 32)
        let gate = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                // Each waits until all 16 are waiting: possible only with 16 threads.
                group.addTask { try await pool.run { if gate.wait(timeout: .now() + 20) == .timedOut { throw Stuck() } } }
            }
            group.addTask {
                while pool.threadCount < 16 { try await Task.sleep(for: .milliseconds(5)) }
                for _ in 0..<16 { gate.signal() }
            }
            try await group.waitForAll()
        }
        #expect(ContinuousClock.now - start < .seconds(10))
    }

    @Test("beyond its cap work waits its turn and still runs; idle threads end")
    func capAndIdleThreads() async throws {
        let pool = BlockingPool(maxThreads: 2, idleLifetime: 0.2)
        let answers = await withTaskGroup(of: Int.self) { group in
            for index in 0..<20 { group.addTask { await pool.run { usleep(2000); return index } } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.sorted() == Array(0..<20))
        #expect(pool.threadCount <= 2)
        for _ in 0..<100 where pool.threadCount > 0 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(pool.threadCount == 0)
    }

    @Test("errors come back to the caller; tasks preferring the pool leave the cooperative threads free")
    func errorsAndExecutorPreference() async throws {
        await #expect(throws: Stuck.self) { try await BlockingPool.shared.run { throw Stuck() } }
        // More blocked tasks than the cooperative pool has threads: were they
        // run there, the plain task below could not start until they time out.
        let gate = DispatchSemaphore(value: 0)
        let start = ContinuousClock.now
        let blocked = (0..<8).map { _ in
            Task(executorPreference: BlockingPool.shared) { gate.wait(timeout: .now() + 10) == .success }
        }
        #expect(await Task { 42 }.value == 42)
        #expect(ContinuousClock.now - start < .seconds(5))
        for _ in blocked { gate.signal() }
        for task in blocked { #expect(await task.value) }
    }

    @Test("withDeadline answers in time whatever the operation does")
    func deadline() async throws {
        #expect(try await withDeadline(.seconds(5), "quick") { 42 } == 42)
        await #expect(throws: Stuck.self) { try await withDeadline(.seconds(5), "failing") { throw Stuck() } }
        // An operation that never ends, not even when cancelled (a call stuck in a hung share).
        let gate = DispatchSemaphore(value: 0)
        defer { gate.signal() }
        let start = ContinuousClock.now
        do {
            _ = try await withDeadline(.milliseconds(200), "the stuck call") { await BlockingPool.shared.run { gate.wait() } }
            Issue.record("a stuck operation answered")
        } catch let error as DeadlineExceeded {
            #expect(error.description == "the stuck call did not answer within 0.2 seconds")
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    struct Stuck: Error {}
}
