using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Decides where the tunnel may go (<see cref="DestinationPolicy"/>: ports, federation list, delegation,
/// extra hosts, addresses) and sets <see cref="TunnelFeature"/>; a refusal is answered here. A host refused
/// only by the federation list is, with <see cref="OutboundOptions.RefuseUnlistedInsideTunnel"/>, accepted but
/// marked refused, so every request inside gets the refusal (a homeserver cannot read an answer to its
/// CONNECT) — as long as the budget of certificates for such hosts allows one.
/// </summary>
internal sealed class TunnelDestinationMiddleware(
    ConnectionDelegate next,
    DestinationPolicy destinations,
    UnlistedHostCertificates unlistedCertificates,
    OutboundMetrics metrics,
    IOptions<OutboundOptions> options,
    ILogger<TunnelDestinationMiddleware> logger) : IConnectionStage
{
    private readonly OutboundOptions _options = options.Value;

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var head = connection.Features.GetRequiredFeature<ConnectHeadFeature>();

        // Name resolution and a federation list refresh have time limits of their own; the head's is spent.
        var (destination, refusal) = await destinations.AuthorizeAsync(head.Host, head.Port, tls: true, connection.ConnectionClosed);
        TunnelFeature tunnel;
        if (refusal is { InsideTunnel: true })
        {
            // Nothing is resolved or connected. The certificate comes from a budget of its own; once that is
            // spent the host is refused at the CONNECT as without the option.
            var unlisted = new Destination(head.Host, head.Port, Tls: true, DestinationKind.Federation, []);
            if (!unlistedCertificates.TryPrepare(unlisted.Host))
            {
                metrics.Tunnel("refused");
                Log.UnlistedMintBudgetSpent(logger, unlisted.Host, unlisted.Port, connection.ClientForLog(), _options.UnlistedCertificateMints, _options.UnlistedCertificateMintPeriod);
                await ProxyErrorResponse.WriteAsync(connection.Transport.Output, refusal.Error, connection.ConnectionClosed);
                return;
            }

            Log.TunnelRefusedInside(logger, unlisted.Host, unlisted.Port, connection.ClientForLog(), refusal.Error.StatusCode, refusal.Reason);
            tunnel = new TunnelFeature(unlisted, refusal);
        }
        else if (destination is null)
        {
            metrics.Tunnel("refused");
            Log.TunnelRefused(logger, head.Host, head.Port, connection.ClientForLog(), refusal!.Error.StatusCode, refusal.Reason);
            await ProxyErrorResponse.WriteAsync(connection.Transport.Output, refusal.Error, connection.ConnectionClosed);
            return;
        }
        else
        {
            tunnel = new TunnelFeature(destination);
        }

        connection.Features.Set(tunnel);
        await next(connection);
    }
}
