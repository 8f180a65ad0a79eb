using MessengerProxy.Outbound.Destinations;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>Set on a connection once its CONNECT was authorised and TLS inside the tunnel is up.</summary>
internal sealed class TunnelFeature(Destination destination)
{
    public Destination Destination { get; } = destination;
}
