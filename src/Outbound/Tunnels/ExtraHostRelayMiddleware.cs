using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Outbound.Forwarding;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Extra hosts (push gateway, SSO) have no Matrix rules to check inside, so unless
/// <see cref="OutboundOptions.InterceptExtraHosts"/> is set their TLS is left end to end: the homeserver
/// verifies the real certificate and this stage only relays bytes to an allowed address. Terminal for those
/// tunnels; every other one goes on to TLS interception.
/// </summary>
internal sealed class ExtraHostRelayMiddleware(
    ConnectionDelegate next,
    UpstreamConnector connector,
    OutboundMetrics metrics,
    IOptions<OutboundOptions> options,
    TimeProvider time,
    ILogger<ExtraHostRelayMiddleware> logger) : IConnectionStage
{
    private readonly bool _intercept = options.Value.InterceptExtraHosts;
    private readonly TunnelRelay _relay = new(time, options.Value.RelayIdleTimeout);

    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        var tunnel = connection.Features.GetRequiredFeature<TunnelFeature>();
        var destination = tunnel.Destination;
        if (_intercept || tunnel.Refusal is not null || destination.Kind != DestinationKind.Extra)
        {
            await next(connection);
            return;
        }

        Stream upstream;
        try
        {
            upstream = await connector.ConnectAsync(destination.Host, destination.Port, connection.ConnectionClosed);
        }
        catch (HttpRequestException ex)
        {
            metrics.Tunnel("refused");
            Log.TunnelRefused(logger, destination.Host, destination.Port, connection.ClientForLog(), 502, ex.Message);
            await ProxyErrorResponse.WriteAsync(connection.Transport.Output,
                new MatrixError(502, MatrixErrorCode.Unknown, $"Cannot connect to {destination.Host}:{destination.Port}"), connection.ConnectionClosed);
            return;
        }

        await using (upstream)
        {
            await ProxyErrorResponse.WriteEstablishedAsync(connection.Transport.Output, connection.ConnectionClosed);
            metrics.Tunnel("relayed");
            await _relay.RunAsync(connection.Transport, upstream, connection.ConnectionClosed);
        }
    }
}
