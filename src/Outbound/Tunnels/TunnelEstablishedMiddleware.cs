using MessengerProxy.Outbound.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Past Kestrel's TLS stage: TLS inside the tunnel is up, so the tunnel counts as opened (or refused inside),
/// and Kestrel's HTTP/1.1 parser reads the decrypted requests into the outbound request handler.
/// </summary>
internal sealed class TunnelEstablishedMiddleware(ConnectionDelegate next, OutboundMetrics metrics) : IConnectionStage
{
    public Task OnConnectionAsync(ConnectionContext connection)
    {
        var tunnel = connection.Features.GetRequiredFeature<TunnelFeature>();
        tunnel.MarkEstablished();
        metrics.Tunnel(tunnel.Refusal is null ? "opened" : "refused_inside");
        return next(connection);
    }
}
