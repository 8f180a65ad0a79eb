using MessengerProxy.Host.Configuration;
using MessengerProxy.Host.Health;
using MessengerProxy.Host.Listeners;
using MessengerProxy.Host.Metrics;
using MessengerProxy.Inbound;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host;

/// <summary>Composition root: configuration, services, listeners and the per-listener pipelines.</summary>
public static class ProxyApp
{
    /// <summary>Short command-line switches for the settings a first run needs.</summary>
    private static readonly Dictionary<string, string> s_switches = new(StringComparer.Ordinal)
    {
        ["--homeserver"] = "Inbound:HomeserverUrl",
        ["--port"] = "Inbound:Port",
        ["--health-port"] = "Health:Port",
    };

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddCommandLine(args, s_switches);

        var startup = new StartupState();
        // The host logs a failed start with a stack trace; the process prints one readable line instead.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level =>
            level >= LogLevel.Information && (startup.Started || level < LogLevel.Error));
        builder.Services.AddSingleton(startup);

        builder.Services.AddInboundProxy(builder.Configuration);
        builder.Services.AddOptions<HealthOptions>().Bind(builder.Configuration.GetSection(HealthOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<HealthOptions>, HealthOptionsValidator>();
        builder.Services.AddSingleton<ListenerRegistry>();
        builder.Services.AddSingleton<IConfigureOptions<KestrelServerOptions>, KestrelListenerSetup>();
        builder.Services.AddSingleton<PrometheusExporter>();

        builder.Services.AddHttpClient(HomeserverHealthCheck.HttpClientName, (sp, client) =>
                client.Timeout = sp.GetRequiredService<IOptions<HealthOptions>>().Value.ProbeTimeout)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false });
        builder.Services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("running"), tags: [HealthEndpoints.LiveTag])
            .AddCheck<HomeserverHealthCheck>("homeserver", tags: [HealthEndpoints.ReadyTag]);

        configure?.Invoke(builder);

        var app = builder.Build();

        var inbound = ((IApplicationBuilder)app).New();
        inbound.RunInboundProxy();
        var inboundPipeline = inbound.Build();

        var health = ((IApplicationBuilder)app).New();
        HealthEndpoints.Configure(health);
        var healthPipeline = health.Build();

        app.Run(context => context.Features.Get<ListenerFeature>()?.Kind switch
        {
            ListenerKind.Inbound => inboundPipeline(context),
            ListenerKind.Health => healthPipeline(context),
            _ => NotFound(context),
        });

        return app;
    }

    /// <summary>Starts the proxy; a configuration or bind error ends the process with one line on stderr.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        WebApplication? app = null;
        try
        {
            app = Build(args);
            await app.StartAsync();
            app.Services.GetRequiredService<StartupState>().Started = true;
        }
        catch (Exception ex)
        {
            await Console.Error.WriteLineAsync($"messenger-proxy: cannot start: {Describe(ex)}");
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            return 1;
        }

        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }

    private static string Describe(Exception ex)
    {
        if (ex is OptionsValidationException validation)
        {
            return "invalid configuration: " + string.Join("; ", validation.Failures);
        }

        // Wrappers (aggregate, target invocation) say less than what they wrap.
        while (ex is AggregateException { InnerException: { } inner } || ex is System.Reflection.TargetInvocationException { InnerException: { } })
        {
            ex = ex.InnerException!;
        }

        return ex is OptionsValidationException ? Describe(ex) : ex.Message.ReplaceLineEndings(" ");
    }

    private static Task NotFound(HttpContext context)
    {
        context.Response.StatusCode = 404;
        return Task.CompletedTask;
    }

    /// <summary>Whether the host finished starting; gates the start-up log filter.</summary>
    internal sealed class StartupState
    {
        public volatile bool Started;
    }
}
