using Microsoft.AspNetCore.Connections;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// One stage of the outbound listener's connection pipeline (a Kestrel connection middleware built with its
/// <c>next</c> as first constructor argument); the order is written once, in
/// <see cref="OutboundServiceCollectionExtensions.UseOutboundProxy"/>.
/// </summary>
internal interface IConnectionStage
{
    Task OnConnectionAsync(ConnectionContext connection);
}
