using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Counts the listener's open connections (tunnels refused inside too) and answers <c>503</c> beyond
/// <see cref="OutboundOptions.MaxConnections"/>, before any byte of the connection is read.
/// </summary>
internal sealed class ConnectionLimitMiddleware(ConnectionDelegate next, IOptions<OutboundOptions> options, OutboundMetrics metrics, ILogger<ConnectionLimitMiddleware> logger)
    : IConnectionStage
{
    private static readonly MatrixError s_tooMany = new(503, MatrixErrorCode.Unknown, "The outbound proxy has too many open connections");

    private readonly int _limit = options.Value.MaxConnections;
    private int _open;

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        metrics.ConnectionOpened();
        try
        {
            if (Interlocked.Increment(ref _open) > _limit)
            {
                metrics.Tunnel("limit");
                Log.ConnectionLimit(logger, _limit, connection.ClientForLog());
                await ProxyErrorResponse.WriteAsync(connection.Transport.Output, s_tooMany, connection.ConnectionClosed);
                return;
            }

            await next(connection);
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            metrics.ConnectionClosed();
        }
    }
}
