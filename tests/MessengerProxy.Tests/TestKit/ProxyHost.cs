using MessengerProxy.Host;
using MessengerProxy.Hosting.Listeners;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.TestKit;

/// <summary>The real proxy application (same composition root as the executable) on loopback ports chosen at run time.</summary>
public sealed class ProxyHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyHost(WebApplication app)
    {
        _app = app;
        var listeners = app.Services.GetRequiredService<ListenerRegistry>();
        InboundPort = listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.Inbound).Port;
        HealthPort = listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.Health).Port;
    }

    public int InboundPort { get; }

    public int HealthPort { get; }

    public Uri InboundUri => new($"http://127.0.0.1:{InboundPort}");

    public Uri HealthUri => new($"http://127.0.0.1:{HealthPort}");

    public IServiceProvider Services => _app.Services;

    /// <param name="homeserverUrl">The stand-in homeserver.</param>
    /// <param name="settings">Extra configuration as <c>Key:Sub=value</c>.</param>
    public static async Task<ProxyHost> StartAsync(string homeserverUrl, params string[] settings)
    {
        var args = new List<string>
        {
            $"--Inbound:HomeserverUrl={homeserverUrl}",
            "--Inbound:Port=0",
            "--Inbound:BindAddress=127.0.0.1",
            "--Health:Port=0",
            "--Health:BindAddress=127.0.0.1",
        };
        args.AddRange(settings.Select(s => "--" + s));

        var app = ProxyApp.Build(args.ToArray(), builder => builder.Logging.ClearProviders());
        await app.StartAsync();
        return new ProxyHost(app);
    }

    public HttpClient CreateClient() => new() { BaseAddress = InboundUri };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
