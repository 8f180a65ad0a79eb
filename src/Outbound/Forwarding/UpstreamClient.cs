using MessengerProxy.Hosting.Http;
using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Outbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// The one pooled client for every remote server. Connections are made only to addresses the
/// <see cref="DestinationResolver"/> allows, resolved at connect time; certificates are verified against
/// the system trust store and, if configured, extra CAs (never switched off). A remote answering 101 fails
/// the request (<see cref="SwitchingProtocolsGuard"/>).
/// </summary>
internal sealed class UpstreamClient : IDisposable
{
    private readonly UpstreamConnector _connector;
    private readonly X509Certificate2Collection _extraRoots;

    public UpstreamClient(IOptions<OutboundOptions> options, UpstreamConnector connector)
    {
        var settings = options.Value;
        _connector = connector;
        _extraRoots = [];
        foreach (var path in settings.TrustedCaPaths)
        {
            _extraRoots.ImportFromPemFile(path);
        }

        Invoker = new HttpMessageInvoker(new SwitchingProtocolsGuard(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ActivityHeadersPropagator = null,
            ConnectTimeout = settings.UpstreamConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(60),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            MaxResponseHeadersLength = 64,
            ConnectCallback = ConnectAsync,
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = Validate,
                ApplicationProtocols = [SslApplicationProtocol.Http11],
            },
        }), disposeHandler: true);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();

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
