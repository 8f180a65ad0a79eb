using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>Answers a CONNECT without the configured proxy credentials <c>407</c>, before any destination is looked at.</summary>
internal sealed class ProxyAuthorizationMiddleware(ConnectionDelegate next, ProxyCredentials credentials, OutboundMetrics metrics, ILogger<ProxyAuthorizationMiddleware> logger)
    : IConnectionStage
{
    private static readonly MatrixError s_required = new(407, MatrixErrorCode.Unauthorized, "Proxy credentials required");

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var head = connection.Features.GetRequiredFeature<ConnectHeadFeature>();
        var presented = head.TakeProxyAuthorization();
        if (!credentials.Accepts(presented))
        {
            metrics.Tunnel("unauthenticated");
            Log.TunnelRefused(logger, head.Host, head.Port, connection.ClientForLog(), 407, presented is null ? "no proxy credentials" : "wrong proxy credentials");
            await ProxyErrorResponse.WriteAsync(connection.Transport.Output, s_required, connection.ConnectionClosed, ProxyCredentials.Challenge);
            return;
        }

        await next(connection);
    }
}
