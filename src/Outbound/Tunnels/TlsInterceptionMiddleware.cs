using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Accepts the tunnel (<c>200 Connection Established</c>) and hands it to Kestrel's TLS stage, which
/// terminates TLS with the certificate <see cref="TunnelTlsOptions"/> chooses; the leaf is minted meanwhile,
/// overlapping the round trip in which the client reads the 200 and sends its ClientHello. Kestrel ends a
/// failed handshake itself (logged by its HTTPS middleware, recorded in its TLS metrics); this stage counts it.
/// </summary>
internal sealed class TlsInterceptionMiddleware(
    ConnectionDelegate next,
    LeafCertificateCache certificates,
    OutboundMetrics metrics,
    IOptions<OutboundOptions> options,
    TimeProvider time,
    ILogger<TlsInterceptionMiddleware> logger) : IConnectionStage
{
    private readonly TimeSpan _handshakeTimeout = options.Value.HandshakeTimeout;

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var tunnel = connection.Features.GetRequiredFeature<TunnelFeature>();
        if (tunnel.Refusal is null)
        {
            // A tunnel refused inside had its certificate prepared, within its budget, by the destination stage.
            certificates.Prefetch(tunnel.Destination.Host);
        }

        await ProxyErrorResponse.WriteEstablishedAsync(connection.Transport.Output, connection.ConnectionClosed);
        var started = time.GetTimestamp();
        await next(connection);
        if (!tunnel.Established)
        {
            metrics.Tunnel("handshake_failed");
            Log.TunnelHandshakeFailed(logger, tunnel.Destination.Host, tunnel.Destination.Port,
                time.GetElapsedTime(started) >= _handshakeTimeout ? "timed out" : "not completed by the client");
        }
    }
}
