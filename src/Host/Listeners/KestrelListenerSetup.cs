using System.Net;
using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Host.Configuration;
using MessengerProxy.Inbound.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host.Listeners;

/// <summary>Opens one Kestrel listener per front door, each tagging its connections with a <see cref="ListenerFeature"/>.</summary>
internal sealed class KestrelListenerSetup : IConfigureOptions<KestrelServerOptions>
{
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

        Listen(options, ListenerKind.Inbound, inbound.BindAddress, inbound.Port, listen =>
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

        Listen(options, ListenerKind.Health, health.BindAddress, health.Port, listen => listen.Protocols = HttpProtocols.Http1);
    }

    private void Listen(KestrelServerOptions options, ListenerKind kind, string bindAddress, int port, Action<ListenOptions> configure)
    {
        var feature = new ListenerFeature(kind);
        void Setup(ListenOptions listen)
        {
            listen.Use(next => connection =>
            {
                connection.Features.Set(feature);
                return next(connection);
            });
            configure(listen);
            _registry.Add(kind, listen);
        }

        var address = ConfigurationChecks.ParseBindAddress(bindAddress) ?? IPAddress.IPv6Any;
        if (address.Equals(IPAddress.IPv6Any))
        {
            // Dual-stack where the host has IPv6, IPv4 only where it does not (some container networks).
            options.ListenAnyIP(port, Setup);
        }
        else
        {
            options.Listen(address, port, Setup);
        }
    }
}
