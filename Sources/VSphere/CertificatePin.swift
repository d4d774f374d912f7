import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Checks a server's certificate against a pinned thumbprint before any
/// credential is sent: a first TLS handshake hands the presented chain to a
/// verification callback that compares the leaf's SHA-1 / SHA-256 with the
/// pin. The SOAP client then trusts exactly that chain (AsyncHTTPClient has
/// no verification callback), so a different server cannot answer later.
enum CertificatePin {
    /// The chain the server presents (leaf first), once its leaf matched `thumbprint`.
    static func verifiedChain(host: String, port: Int, thumbprint: String) async throws -> [NIOSSLCertificate] {
        guard let pin = CertificateTrust.normalized(thumbprint: thumbprint) else {
            throw VSphereError.badResponse("the pinned thumbprint \(thumbprint) is not a SHA-1 or SHA-256 fingerprint")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: configuration)
        let presented = NIOLockedValueBox<[NIOSSLCertificate]>([])
        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = try NIOSSLClientHandler(context: context, serverHostname: serverName) { chain, promise in
                        presented.withLockedValue { $0 = chain }
                        let matches = chain.first.map { Self.thumbprints(of: $0).contains(pin) } ?? false
                        promise.succeed(matches ? .certificateVerified : .failed)
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                    try channel.pipeline.syncOperations.addHandler(HandshakeWaiter())
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            throw VSphereError.unreachable("\(host):\(port): \(error)")
        }
        defer { channel.close(promise: nil) }
        do {
            try await channel.pipeline.handler(type: HandshakeWaiter.self).flatMap { $0.done.futureResult }.get()
        } catch {
            let chain = presented.withLockedValue { $0 }
            guard let leaf = chain.first else { throw VSphereError.unreachable("TLS handshake with \(host):\(port) failed: \(error)") }
            let shown = pin.count == 40 ? Self.thumbprints(of: leaf)[0] : Self.thumbprints(of: leaf)[1]
            throw VSphereError.certificateMismatch(expected: CertificateTrust.displayed(thumbprint: pin) ?? pin,
                                                   presented: CertificateTrust.displayed(thumbprint: shown) ?? shown)
        }
        return presented.withLockedValue { $0 }
    }

    /// SHA-1 and SHA-256 of the certificate's DER bytes, uppercase hex.
    static func thumbprints(of certificate: NIOSSLCertificate) -> [String] {
        guard let der = try? certificate.toDERBytes() else { return [] }
        let hex = { (bytes: any Sequence<UInt8>) in bytes.map { String(format: "%02X", $0) }.joined() }
        return [hex(Insecure.SHA1.hash(data: der)), hex(SHA256.hash(data: der))]
    }
}

/// Completes when the TLS handshake finished (or failed).
private final class HandshakeWaiter: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    var done: EventLoopPromise<Void>!
    private var finished = false

    func handlerAdded(context: ChannelHandlerContext) {
        done = context.eventLoop.makePromise()
    }

    private func finish(_ error: (any Error)?) {
        guard !finished else { return }
        finished = true
        if let error { done.fail(error) } else { done.succeed(()) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event { finish(nil) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(ChannelError.ioOnClosedChannel)
        context.fireChannelInactive()
    }

    /// A connection that fails never becomes active: its pipeline is torn
    /// down without channelInactive, and an unfulfilled promise traps
    /// (NIO's leak check) — that took the hub down when a credential test
    /// met a refused port.
    func handlerRemoved(context: ChannelHandlerContext) {
        finish(ChannelError.ioOnClosedChannel)
    }
}
