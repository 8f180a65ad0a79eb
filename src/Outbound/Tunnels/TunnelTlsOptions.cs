using System.Net.Security;
using System.Security.Authentication;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// The per-connection TLS options of Kestrel's TLS stage inside a tunnel: the certificate names what the
/// homeserver will check, taken from the connection's <see cref="TunnelFeature"/> and the ClientHello.
/// </summary>
internal sealed class TunnelTlsOptions(LeafCertificateCache certificates, UnlistedHostCertificates unlistedCertificates)
{
    private static readonly List<SslApplicationProtocol> s_http11 = [SslApplicationProtocol.Http11];

    public ValueTask<SslServerAuthenticationOptions> SelectAsync(TlsHandshakeCallbackContext context)
    {
        var tunnel = context.Connection.Features.GetRequiredFeature<TunnelFeature>();
        var destination = tunnel.Destination;

        // The name the homeserver sent as SNI when the tunnel may serve it (delegation), otherwise the host it
        // asked to CONNECT to.
        var sni = context.ClientHelloInfo.ServerName;
        var name = !string.IsNullOrEmpty(sni) && destination.Serves(sni) ? ServerName.NormalizeHost(sni) : destination.Host;
        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = tunnel.Refusal is null ? certificates.Get(name) : unlistedCertificates.Get(destination.Host),
            ApplicationProtocols = s_http11,
            ClientCertificateRequired = false,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        });
    }
}
