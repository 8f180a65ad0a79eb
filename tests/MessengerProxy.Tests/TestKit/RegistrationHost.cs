using MessengerProxy.Hosting.Listeners;
using MessengerProxy.Registration;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.TestKit;

/// <summary>The real registration service on loopback ports chosen at run time, over a fresh test database.</summary>
public sealed class RegistrationHost : IAsyncDisposable
{
    public const string AdminToken = "test-admin-token-0123456789abcdef0123456789";

    private readonly WebApplication _app;

    private RegistrationHost(WebApplication app, TestDatabase database)
    {
        _app = app;
        Database = database;
        var listeners = app.Services.GetRequiredService<ListenerRegistry>();
        ApiPort = listeners.GetEndPoint(RegistrationApp.ApiListener).Port;
        HealthPort = listeners.GetEndPoint(RegistrationApp.HealthListener).Port;
    }

    internal TestDatabase Database { get; }

    public int ApiPort { get; }

    public int HealthPort { get; }

    public Uri ApiUri => new($"http://127.0.0.1:{ApiPort}");

    public IServiceProvider Services => _app.Services;

    public static Task<RegistrationHost> StartAsync(PostgresFixture postgres, params string[] settings) => StartAsync(postgres, configure: null, settings);

    /// <param name="configure">Runs after the service's own registrations (e.g. to add a log capture or a clock).</param>
    public static async Task<RegistrationHost> StartAsync(PostgresFixture postgres, Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        var database = await TestDatabase.CreateAsync(postgres, migrate: false);
        var args = new List<string>
        {
            $"--Registration:ConnectionString={database.ConnectionString}",
            $"--Registration:AdminToken={AdminToken}",
            "--Registration:Port=0", "--Registration:BindAddress=127.0.0.1",
            "--Registration:HealthPort=0", "--Registration:HealthBindAddress=127.0.0.1",
        };
        // TestPki's certificates name no OCSP responder; the revocation tests start a stand-in and say so.
        if (!settings.Any(s => s.StartsWith("Registration:Vzd:Ocsp:", StringComparison.Ordinal)))
        {
            args.Add("--Registration:Vzd:Ocsp:Enabled=false");
        }

        args.AddRange(settings.Select(s => "--" + s));
        var app = RegistrationApp.Build(args.ToArray(), b =>
        {
            b.Logging.ClearProviders();
            configure?.Invoke(b);
        });
        await RegistrationApp.MigrateAsync(app.Services);
        await app.StartAsync();
        return new RegistrationHost(app, database);
    }

    public HttpClient CreateClient(bool admin = true)
    {
        var client = new HttpClient { BaseAddress = ApiUri };
        if (admin)
        {
            client.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await Database.DisposeAsync();
    }
}
