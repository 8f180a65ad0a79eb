using System.Security.Cryptography.X509Certificates;
using MessengerProxy.Host.Configuration;
using MessengerProxy.Hosting.Listeners;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Information;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Outbound;
using MessengerProxy.Outbound.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host;

/// <summary>Opens one Kestrel listener per front door of the proxy, and one per configured inbound listener.</summary>
internal sealed class KestrelListenerSetup : IConfigureOptions<KestrelServerOptions>
{
    /// <summary>The inbound listener of the single-listener keys; configured listeners are named <c>Inbound:Listeners:N</c>.</summary>
    public const string Inbound = InboundListener.SingleListenerName;
    public const string Health = "Health";
    public const string Outbound = "Outbound";
    public const string TimInformation = "TimInformation";

    private readonly IOptions<InboundOptions> _inbound;
    private readonly IOptions<HealthOptions> _health;
    private readonly IOptions<OutboundOptions> _outbound;
    private readonly IOptions<TimInformationOptions> _information;
    private readonly ListenerRegistry _registry;

    public KestrelListenerSetup(IOptions<InboundOptions> inbound, IOptions<HealthOptions> health, IOptions<OutboundOptions> outbound,
        IOptions<TimInformationOptions> information, ListenerRegistry registry)
    {
        _inbound = inbound;
        _information = information;
        _health = health;
        _outbound = outbound;
        _registry = registry;
    }

    public void Configure(KestrelServerOptions options)
    {
        var inbound = _inbound.Value;
        var health = _health.Value;

        options.AddServerHeader = false;

        // Absolute-form targets (plain http:// proxy requests) carry the authority; the inbound listener
        // refuses them anyway, so taking it over the Host header only matters on the outbound one.
        options.AllowHostHeaderOverride = true;
        // The default for every request; the body-size policy raises it per request for media uploads.
        options.Limits.MaxRequestBodySize = inbound.MaxJsonBodyBytes;

        foreach (var listener in InboundListener.All(inbound))
        {
            var feature = new InboundListenerFeature(listener.Name, listener.Apis);
            _registry.Listen(options, listener.Name, listener.BindAddress, listener.Port, listen =>
            {
                // Before TLS, so the pipeline knows the listener's APIs on every connection, whatever its protocol.
                listen.Use(next => connection =>
                {
                    connection.Features.Set(feature);
                    return next(connection);
                });
                if (listener.UsesTls)
                {
                    var certificate = X509Certificate2.CreateFromPemFile(listener.TlsCertificatePath!, listener.TlsKeyPath);
                    listen.Protocols = HttpProtocols.Http1AndHttp2;
                    listen.UseHttps(certificate);
                }
                else
                {
                    listen.Protocols = HttpProtocols.Http1;
                }
            });
        }

        var outbound = _outbound.Value;
        if (outbound.Enabled)
        {
            _registry.Listen(options, Outbound, outbound.BindAddress, outbound.Port, listen => listen.UseOutboundProxy());
        }

        var information = _information.Value;
        if (information.Enabled)
        {
            _registry.Listen(options, TimInformation, information.BindAddress, information.Port, listen => listen.Protocols = HttpProtocols.Http1);
        }

        _registry.Listen(options, Health, health.BindAddress, health.Port, listen => listen.Protocols = HttpProtocols.Http1);
    }
}
