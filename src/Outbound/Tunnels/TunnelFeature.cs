using MessengerProxy.Outbound.Destinations;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Set on a connection once its CONNECT was accepted: what the tunnel may be used for. The TLS stage reads it
/// to choose the certificate, the request handler to check every decrypted request.
/// </summary>
/// <param name="Refusal">
/// Set for a tunnel accepted only to refuse inside it (a host outside the federation): every request gets
/// this answer and <paramref name="Destination"/> is never forwarded to, nor even resolved.
/// </param>
internal sealed class TunnelFeature(Destination destination, DestinationRefusal? refusal = null)
{
    public Destination Destination { get; } = destination;

    public DestinationRefusal? Refusal { get; } = refusal;

    /// <summary>Whether TLS inside the tunnel is up (set past Kestrel's TLS stage, which ends failed handshakes itself).</summary>
    public bool Established { get; private set; }

    public void MarkEstablished() => Established = true;
}
