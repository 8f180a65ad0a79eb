using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// The outbound proxy's upstream client, on the shared <see cref="UpstreamHttpClientFactory"/>: connections are
/// made only to addresses the <see cref="DestinationResolver"/> allows, resolved at connect time; certificates are
/// verified against the system trust store and, if configured, extra CAs (never switched off); HTTP/1.1 only, with
/// small response heads. A remote answering 101 fails the request (<see cref="SwitchingProtocolsGuard"/>).
/// </summary>
internal sealed class OutboundHttpClientFactory : UpstreamHttpClientFactory
{
    private readonly UpstreamConnector _connector;
    private readonly X509Certificate2Collection _extraRoots;

    public OutboundHttpClientFactory(IOptions<OutboundOptions> options, UpstreamConnector connector)
        : base(new UpstreamClientSettings(options.Value.UpstreamConnectTimeout, PooledConnectionIdleTimeout: TimeSpan.FromSeconds(60), PooledConnectionLifetime: TimeSpan.FromMinutes(5)))
    {
        _connector = connector;
        _extraRoots = [];
        foreach (var path in options.Value.TrustedCaPaths)
        {
            _extraRoots.ImportFromPemFile(path);
        }
    }

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.EnableMultipleHttp2Connections = false;
        handler.MaxResponseHeadersLength = 64;
        handler.ConnectCallback = ConnectAsync;
        handler.SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = Validate,
            ApplicationProtocols = [SslApplicationProtocol.Http11],
        };
    }

    private ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        _connector.ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancellationToken);

    private bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        // A wrong name or no certificate is never acceptable; an unknown root may be one of the extra CAs.
        if (errors != SslPolicyErrors.RemoteCertificateChainErrors || certificate is null || _extraRoots.Count == 0)
        {
            return false;
        }

        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_extraRoots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(leaf);
    }
}
