using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Hosting.Http;
using MessengerProxy.Hosting.Listeners;
using MessengerProxy.Hosting.Logging;
using MessengerProxy.Hosting.Metrics;
using MessengerProxy.Hosting.Startup;
using MessengerProxy.Persistence;
using MessengerProxy.Registration.Admin;
using MessengerProxy.Registration.Api;
using MessengerProxy.Registration.Configuration;
using MessengerProxy.Registration.Health;
using MessengerProxy.Registration.Jws;
using MessengerProxy.Registration.Vzd;
using MessengerProxy.Trust;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration;

/// <summary>Composition root of the registration service.</summary>
internal static class RegistrationApp
{
    public const string ApiListener = "Api";
    public const string HealthListener = "Health";
    public const string OcspHttpClientName = "MessengerProxy.Ocsp";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.AddStartupLogGate();
        builder.Services.AddRequestTargetLogGuard();

        builder.Services.AddOptions<RegistrationOptions>().Bind(builder.Configuration.GetSection(RegistrationOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<RegistrationOptions>, RegistrationOptionsValidator>();
        builder.Services.AddRegistrationPersistence(sp => sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.ConnectionString);
        builder.Services.AddSingleton(sp =>
        {
            var vzd = sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.Vzd;
            return new FederationListJwsVerifier(SignedJwsVerifier.LoadCertificates(vzd.TrustAnchors), vzd.Algorithms, sp.GetRequiredService<TimeProvider>());
        });
        builder.Services.AddSingleton(sp => new OcspChecker(
            () => sp.GetRequiredService<IHttpClientFactory>().CreateClient(OcspHttpClientName),
            sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.Vzd.Ocsp,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(),
            "registration"));
        // The OCSP responders and the VZD are outside the deployment: these clients may use the system proxy.
        builder.Services.AddServiceHttpClient(OcspHttpClientName, timeout: null, useSystemProxy: true);
        builder.Services.AddSingleton<FederationListService>();
        builder.Services.AddSingleton<AdminTokenFilter>();
        builder.Services.AddSingleton<ApiExceptionHandler>();
        builder.Services.AddSingleton<VzdFederationListFetcher>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<VzdFederationListFetcher>());
        builder.Services.AddServiceHttpClient(VzdFederationListFetcher.HttpClientName, sp => sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.Vzd.RequestTimeout, useSystemProxy: true);
        builder.Services.AddVzdAuthentication();

        builder.Services.AddSingleton<ListenerRegistry>();
        builder.Services.AddSingleton<PrometheusExporter>();
        builder.Services.AddOptions<KestrelServerOptions>().Configure<IOptions<RegistrationOptions>, ListenerRegistry>((kestrel, options, listeners) =>
        {
            var settings = options.Value;
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
            listeners.Listen(kestrel, ApiListener, settings.BindAddress, settings.Port);
            listeners.Listen(kestrel, HealthListener, settings.HealthBindAddress, settings.HealthPort);
        });
        builder.Services.AddHealthChecks()
            .AddCheck("process", () => HealthCheckResult.Healthy("running"), tags: [ActuatorEndpoints.LiveTag])
            .AddCheck<DatabaseHealthCheck>("database", tags: [ActuatorEndpoints.ReadyTag])
            .AddCheck<FederationListHealthCheck>("federation-list", tags: [ActuatorEndpoints.ReadyTag]);

        configure?.Invoke(builder);
        var app = builder.Build();

        app.MapWhen(context => ListenerRegistry.NameOf(context) == HealthListener, ActuatorEndpoints.Configure);

        // Exceptions (the database gone, a refused request, a fault) and framework answers without a body
        // (unknown route, wrong method, too large) get the error format too.
        app.UseExceptionHandler(app.Services.GetRequiredService<ApiExceptionHandler>().CreateOptions());
        app.UseStatusCodePages(context => context.HttpContext.Response.HasStarted
            ? Task.CompletedTask
            : ApiResults.Error(context.HttpContext.Response.StatusCode, ApiResults.ErrorCodeFor(context.HttpContext.Response.StatusCode), "Unrecognized request").ExecuteAsync(context.HttpContext));

        ProxyApiEndpoints.Map(app);
        AdminEndpoints.Map(app);
        return app;
    }

    /// <summary>Applies pending migrations; called at start-up (unless disabled) and by <c>--migrate</c>.</summary>
    public static async Task MigrateAsync(IServiceProvider services, CancellationToken cancellationToken = default)
    {
        var factory = services.GetRequiredService<IDbContextFactory<RegistrationDbContext>>();
        await using var db = await factory.CreateDbContextAsync(cancellationToken);
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).Count();
        await db.Database.MigrateAsync(cancellationToken);
        Log.MigrationsApplied(services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RegistrationApp)), pending);
    }

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Contains("--migrate"))
        {
            // For operators who prefer to migrate separately: apply and exit.
            return await ServiceRunner.RunTaskAsync("messenger-registration", () => Build(args.Where(a => a != "--migrate").ToArray()), app =>
            {
                _ = app.Services.GetRequiredService<IOptions<RegistrationOptions>>().Value;
                return MigrateAsync(app.Services);
            });
        }

        return await ServiceRunner.RunAsync("messenger-registration", () => Build(args), async app =>
        {
            if (app.Services.GetRequiredService<IOptions<RegistrationOptions>>().Value.ApplyMigrationsOnStart)
            {
                await MigrateAsync(app.Services);
            }
        });
    }
}
