import NIOCore
import NIOPosix
import SendenseCore

/// Opens NBD connections. A connection lives inside `withConnection`: when
/// the body returns or throws, NBD_CMD_DISC is sent and the socket closed,
/// so no connection outlives its job.
public enum NBDClient {
    public static func withConnection<Result: Sendable>(
        to endpoint: NBDEndpoint,
        metaContexts: [String] = [],
        handshakeTimeout: Duration = .seconds(30),
        _ body: (NBDConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await connect(endpoint)
        return try await channel.executeThenClose { inbound, outbound in
            let (ready, signal) = AsyncStream<Swift.Result<NBDConnection, any Error>>.makeStream()
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var reader = ByteStreamReader(inbound.makeAsyncIterator())
                    let connection: NBDConnection
                    do {
                        let info = try await NBDHandshake.run(
                            reader: &reader, outbound: outbound, exportName: endpoint.exportName, metaContexts: metaContexts)
                        connection = NBDConnection(info: info, outbound: outbound)
                    } catch {
                        // A socket closed under the handshake is the server's doing, not a bug of ours.
                        let failure = error as? NBDError ?? NBDError.connectFailed("\(endpoint): negotiation failed: \(error)")
                        signal.yield(.failure(failure))
                        signal.finish()
                        throw failure
                    }
                    signal.yield(.success(connection))
                    signal.finish()
                    try await NBDReplyReceiver.run(reader: &reader, connection: connection)
                }
                // A server that never finishes negotiating must not hang the job.
                group.addTask {
                    try? await Task.sleep(for: handshakeTimeout)
                    signal.yield(.failure(NBDError.protocolViolation("negotiation did not finish within \(handshakeTimeout)")))
                    signal.finish()
                }
                var iterator = ready.makeAsyncIterator()
                guard let outcome = await iterator.next() else { throw NBDError.connectionClosed }
                let connection: NBDConnection
                do {
                    connection = try outcome.get()
                } catch {
                    group.cancelAll()
                    throw error
                }
                do {
                    let result = try await body(connection)
                    await connection.disconnect()
                    group.cancelAll()
                    return result
                } catch {
                    await connection.disconnect()
                    group.cancelAll()
                    throw error
                }
            }
        }
    }

    /// Socket reads of up to 1 MiB (NIO's default stops at 64 KiB) and up to
    /// 32 of them queued for the reply receiver (the default is 10): a 4 MiB
    /// read then arrives in a few buffers instead of 64, and the socket keeps
    /// being read while the receiver catches up. Memory stays bounded: at
    /// most 32 MiB waits per connection, about what the copier keeps in
    /// flight anyway.
    static let receiveAllocator = AdaptiveRecvByteBufferAllocator(minimum: 64 << 10, initial: 256 << 10, maximum: 1 << 20)
    static let inboundQueue = NIOAsyncChannel<ByteBuffer, ByteBuffer>.Configuration(
        backPressureStrategy: .init(lowWatermark: 8, highWatermark: 32))

    /// The data path's own event loops, at the jobs' niceness. On NIO's
    /// singleton group (the HTTP server's) four backups' replies and the
    /// kernel's copying of them kept requests waiting: GET /health had a p99
    /// of 43 ms at 170 req/s (`scripts/bench-api-load.sh`).
    static let eventLoops: MultiThreadedEventLoopGroup = {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        for loop in group.makeIterator() { loop.execute { ThreadNiceness.lowerCurrentThread(by: ThreadNiceness.jobs) } }
        return group
    }()

    private static func connect(_ endpoint: NBDEndpoint) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let bootstrap = ClientBootstrap(group: eventLoops)
            .connectTimeout(.seconds(10))
            .channelOption(.recvAllocator, value: receiveAllocator)
        let wrap: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<ByteBuffer, ByteBuffer>> = { channel in
            channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: inboundQueue) }
        }
        do {
            switch endpoint.transport {
            case .tcp(let host, let port):
                return try await bootstrap.channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .connect(host: host, port: port, channelInitializer: wrap)
            case .unix(let path):
                return try await bootstrap.connect(unixDomainSocketPath: path, channelInitializer: wrap)
            }
        } catch {
            throw NBDError.connectFailed("\(endpoint): \(error)")
        }
    }
}
