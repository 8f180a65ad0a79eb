using MessengerProxy.Federation;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Outbound.Forwarding;
using MessengerProxy.Outbound.Tunnels;
using MessengerProxy.Pipeline;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound;

internal static class OutboundServiceCollectionExtensions
{
    /// <summary>Registers the outbound forward proxy with options bound from configuration and validated at start-up.</summary>
    public static IServiceCollection AddOutboundProxy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddFederationList(configuration);
        services.AddOptions<OutboundOptions>().Bind(configuration.GetSection(OutboundOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<OutboundOptions>, OutboundOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<OutboundMetrics>();
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<IOptions<OutboundOptions>>().Value;
            var authority = CertificateAuthority.Load(settings.CaCertificatePath, settings.CaKeyPath, sp.GetRequiredService<TimeProvider>().GetUtcNow(), settings.CaKeyPassword);
            Log.CaLoaded(sp.GetRequiredService<ILogger<CertificateAuthority>>(), authority.Certificate.Subject, authority.Certificate.NotAfter.ToUniversalTime());
            return authority;
        });
        services.AddSingleton<LeafCertificateCache>();
        services.AddSingleton<UnlistedHostCertificates>();
        services.AddSingleton<DestinationResolver>();
        services.AddSingleton<DelegationTable>();
        services.AddSingleton<DestinationPolicy>();
        services.AddSingleton<OutboundEndpoints>();
        services.AddSingleton<UpstreamConnector>();
        services.AddProxyPipeline<OutboundRequestFeature, OutboundDirection>(
            PipelineDirection.Outbound,
            sp => ActivatorUtilities.CreateInstance<OutboundHttpClientFactory>(sp),
            sp => sp.GetRequiredService<IOptions<OutboundOptions>>().Value.UpstreamTimeout,
            sp => sp.GetRequiredService<OutboundMetrics>().Requests);
        services.AddSingleton<ProxyCredentials>();
        services.AddSingleton<TunnelTlsOptions>();
        services.AddHealthChecks().AddCheck<CertificateAuthorityHealthCheck>("outbound-ca", tags: [ActuatorEndpoints.ReadyTag]);
        return services;
    }

    /// <summary>
    /// Turns a Kestrel listener into the outbound proxy's. Every connection runs through these stages, one
    /// job each, in this order; a stage that refuses answers on the raw connection and ends it:
    /// <code>
    /// ClientGone            a client that breaks the connection ends it quietly
    /// ConnectionLimit       503 beyond MaxConnections
    /// ConnectHead           400/505/431/408 for a malformed head; no CONNECT ─────────────┐
    /// ProxyAuthorization    407                                                          │
    /// TunnelDestination     403/400/502/504, or accepted to be refused inside            │
    /// ExtraHostRelay        extra hosts: 200, bytes relayed end to end (ends here)       │
    /// TlsInterception       200, then                                                    │
    /// Kestrel UseHttps      TLS with a minted certificate (TunnelTlsOptions)             │
    /// TunnelEstablished     counts the tunnel                                            │
    /// Kestrel HTTP/1.1      decrypted requests → RunOutboundProxy ◄─ plain http:// ──────┘
    /// </code>
    /// </summary>
    public static void UseOutboundProxy(this ListenOptions listen)
    {
        var services = listen.ApplicationServices;
        var tls = services.GetRequiredService<TunnelTlsOptions>();
        var settings = services.GetRequiredService<IOptions<OutboundOptions>>().Value;
        var plainHttp = new PlainHttpBranch();
        listen.Protocols = HttpProtocols.Http1;
        listen.UseStage<ClientGoneMiddleware>()
            .UseStage<ConnectionLimitMiddleware>()
            .UseStage<ConnectHeadMiddleware>(plainHttp)
            .UseStage<ProxyAuthorizationMiddleware>()
            .UseStage<TunnelDestinationMiddleware>()
            .UseStage<ExtraHostRelayMiddleware>()
            .UseStage<TlsInterceptionMiddleware>()
            .UseHttps(new TlsHandshakeCallbackOptions { OnConnection = tls.SelectAsync, HandshakeTimeout = settings.HandshakeTimeout });
        listen.UseStage<TunnelEstablishedMiddleware>()
            .Use(plainHttp.Capture);
    }

    private static ListenOptions UseStage<TStage>(this ListenOptions listen, params object[] arguments)
        where TStage : IConnectionStage
    {
        listen.Use(next => ActivatorUtilities.CreateInstance<TStage>(listen.ApplicationServices, [next, .. arguments]).OnConnectionAsync);
        return listen;
    }

    /// <summary>Ends a pipeline branch in the outbound proxy.</summary>
    public static void RunOutboundProxy(this IApplicationBuilder app)
    {
        var pipeline = app.ApplicationServices.GetRequiredService<ProxyPipeline<OutboundRequestFeature>>();
        app.Run(pipeline.InvokeAsync);
    }
}

/// <summary>Ready while the proxy CA can mint certificates; degraded in its last 30 days, so renewal is not missed.</summary>
internal sealed class CertificateAuthorityHealthCheck(IOptions<OutboundOptions> options, IServiceProvider services, TimeProvider time) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!options.Value.Enabled)
        {
            return Task.FromResult(HealthCheckResult.Healthy("outbound proxy disabled"));
        }

        var certificate = services.GetRequiredService<CertificateAuthority>().Certificate;
        var now = time.GetUtcNow();
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime());
        var left = notAfter - now;
        return Task.FromResult(left <= TimeSpan.Zero
            ? HealthCheckResult.Unhealthy($"the proxy CA expired at {notAfter:u}")
            : left < TimeSpan.FromDays(30)
                ? HealthCheckResult.Degraded($"the proxy CA expires at {notAfter:u}")
                : HealthCheckResult.Healthy($"the proxy CA is valid until {notAfter:u}"));
    }
}
