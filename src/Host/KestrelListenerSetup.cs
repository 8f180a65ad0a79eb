using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Host.Configuration;
using MessengerProxy.Hosting.Listeners;
using MessengerProxy.Inbound.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host;

/// <summary>Opens one Kestrel listener per front door of the proxy.</summary>
internal sealed class KestrelListenerSetup : IConfigureOptions<KestrelServerOptions>
{
    public const string Inbound = "Inbound";
    public const string Health = "Health";

    private readonly IOptions<InboundOptions> _inbound;
    private readonly IOptions<HealthOptions> _health;
    private readonly ListenerRegistry _registry;

    public KestrelListenerSetup(IOptions<InboundOptions> inbound, IOptions<HealthOptions> health, ListenerRegistry registry)
    {
        _inbound = inbound;
        _health = health;
        _registry = registry;
    }

    public void Configure(KestrelServerOptions options)
    {
        var inbound = _inbound.Value;
        var health = _health.Value;

        options.AddServerHeader = false;
        // The default for every request; the body-size policy raises it per request for media uploads.
        options.Limits.MaxRequestBodySize = inbound.MaxJsonBodyBytes;

        _registry.Listen(options, Inbound, inbound.BindAddress, inbound.Port, listen =>
        {
            if (!string.IsNullOrEmpty(inbound.TlsCertificatePath))
            {
                var certificate = X509Certificate2.CreateFromPemFile(inbound.TlsCertificatePath, inbound.TlsKeyPath);
                listen.Protocols = HttpProtocols.Http1AndHttp2;
                listen.UseHttps(certificate);
            }
            else
            {
                listen.Protocols = HttpProtocols.Http1;
            }
        });

        _registry.Listen(options, Health, health.BindAddress, health.Port, listen => listen.Protocols = HttpProtocols.Http1);
    }
}
