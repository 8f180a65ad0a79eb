using MessengerProxy.Host.Configuration;
using MessengerProxy.Host.Health;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Hosting.Listeners;
using MessengerProxy.Hosting.Logging;
using MessengerProxy.Hosting.Metrics;
using MessengerProxy.Hosting.Startup;
using MessengerProxy.Inbound;
using MessengerProxy.Inbound.Information;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.LowBandwidth;
using MessengerProxy.Outbound;
using MessengerProxy.Hosting.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host;

/// <summary>Composition root: configuration, services, listeners and the per-listener pipelines.</summary>
internal static class ProxyApp
{
    /// <summary>Short command-line switches for the settings a first run needs.</summary>
    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--homeserver"] = "Inbound:HomeserverUrl",
        ["--port"] = "Inbound:Port",
        ["--health-port"] = "Health:Port",
        ["--outbound-port"] = "Outbound:Port",
        ["--ca-cert"] = "Outbound:CaCertificatePath",
        ["--ca-key"] = "Outbound:CaKeyPath",
    };

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, s_switches);

        builder.AddStartupLogGate();
        builder.Services.AddRequestTargetLogGuard();

        builder.Services.AddInboundProxy(builder.Configuration);
        builder.Services.AddTimInformationApi(builder.Configuration);
        builder.Services.AddRuntimeLogLevels(builder.Configuration);
        builder.Services.AddOutboundProxy(builder.Configuration);
        builder.Services.AddLowBandwidthFrontDoor(builder.Configuration);
        builder.Services.AddOptions<HealthOptions>().Bind(builder.Configuration.GetSection(HealthOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HealthOptions>, HealthOptionsValidator>();
        builder.Services.AddSingleton<ListenerRegistry>();
        builder.Services.AddSingleton<IConfigureOptions<KestrelServerOptions>, KestrelListenerSetup>();
        builder.Services.AddSingleton<PrometheusExporter>();

        builder.Services.AddServiceHttpClient(HomeserverHealthCheck.HttpClientName, sp => sp.GetRequiredService<IOptions<HealthOptions>>().Value.ProbeTimeout);
        builder.Services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("running"), tags: [ActuatorEndpoints.LiveTag])
            .AddCheck<HomeserverHealthCheck>("homeserver", tags: [ActuatorEndpoints.ReadyTag]);

        configure?.Invoke(builder);

        var app = builder.Build();

        var inbound = ((IApplicationBuilder)app).New();
        inbound.Use(TimUserAgentCors.InvokeAsync);
        inbound.RunInboundProxy();
        var inboundPipeline = inbound.Build();
        app.Services.ConnectLowBandwidthFrontDoor(inboundPipeline);

        var outbound = ((IApplicationBuilder)app).New();
        outbound.RunOutboundProxy();
        var outboundPipeline = outbound.Build();

        var health = ((IApplicationBuilder)app).New();
        ActuatorEndpoints.Configure(health);
        var healthPipeline = health.Build();
        var informationPipeline = app.Services.TimInformationPipeline();

        // Every inbound listener carries its InboundListenerFeature; the other listeners are told apart by name.
        app.Run(context => context.Features.Get<InboundListenerFeature>() is not null ? inboundPipeline(context) : ListenerRegistry.NameOf(context) switch
        {
            KestrelListenerSetup.Health => healthPipeline(context),
            KestrelListenerSetup.Outbound => outboundPipeline(context),
            KestrelListenerSetup.TimInformation => informationPipeline(context),
            _ => NotFound(context),
        });

        return app;
    }

    /// <summary>Starts the proxy; a configuration or bind error ends the process with one line on stderr.</summary>
    public static Task<int> RunAsync(string[] args) => ServiceRunner.RunAsync("messenger-proxy", () => Build(args));

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = 404;
        return Task.CompletedTask;
    }
}
