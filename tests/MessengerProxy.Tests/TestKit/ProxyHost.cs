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
    private readonly string? _ownDirectory;
    private readonly ListenerRegistry _listeners;

    private ProxyHost(WebApplication app, string? ownDirectory)
    {
        _app = app;
        _ownDirectory = ownDirectory;
        var listeners = app.Services.GetRequiredService<ListenerRegistry>();
        _listeners = listeners;
        var inbound = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MessengerProxy.Inbound.Configuration.InboundOptions>>().Value;
        InboundPort = inbound.Listeners.Count == 0
            ? listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.Inbound).Port
            : ListenerPort(0);
        HealthPort = listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.Health).Port;
        OutboundPort = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MessengerProxy.Outbound.Configuration.OutboundOptions>>().Value.Enabled
            ? listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.Outbound).Port
            : 0;
        InformationPort = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MessengerProxy.Inbound.Information.TimInformationOptions>>().Value.Enabled
            ? listeners.GetEndPoint(MessengerProxy.Host.KestrelListenerSetup.TimInformation).Port
            : 0;
    }

    /// <summary>The port of the single inbound listener, or of <c>Inbound:Listeners:0</c> when listeners are configured.</summary>
    public int InboundPort { get; }

    public int HealthPort { get; }

    /// <summary>The outbound proxy's port; 0 unless a setting mentions <c>Outbound:</c>.</summary>
    public int OutboundPort { get; }

    /// <summary>The TI-M information API's port; 0 unless a setting mentions <c>TimInformation:</c>.</summary>
    public int InformationPort { get; }

    /// <summary>The bound port of <c>Inbound:Listeners:{index}</c>.</summary>
    public int ListenerPort(int index) => _listeners.GetEndPoint($"Inbound:Listeners:{index}").Port;

    public Uri InboundUri => new($"http://127.0.0.1:{InboundPort}");

    public Uri HealthUri => new($"http://127.0.0.1:{HealthPort}");

    public IServiceProvider Services => _app.Services;

    /// <param name="homeserverUrl">The stand-in homeserver.</param>
    /// <param name="settings">
    /// Extra configuration as <c>Key:Sub=value</c>. Unless a setting mentions <c>Federation:</c>, federation
    /// checks are off (tests of other concerns need no registration service), and the persisted list goes to
    /// a file of its own; unsigned lists are allowed unless a setting names <c>Federation:AllowUnsignedList</c>. Unless a setting mentions <c>TimInformation:</c>, the information API is off (it would
    /// take port 7777); when one does, it binds a free loopback port. Unless a setting mentions <c>Inbound:Listeners:</c>, the single inbound listener
    /// binds a free loopback port.
    /// </param>
    public static Task<ProxyHost> StartAsync(string homeserverUrl, params string[] settings) => StartAsync(homeserverUrl, null, settings);

    public static async Task<ProxyHost> StartAsync(string homeserverUrl, Action<WebApplicationBuilder>? configure, params string[] settings)
    {
        var args = new List<string>
        {
            $"--Inbound:HomeserverUrl={homeserverUrl}",
            "--Health:Port=0",
            "--Health:BindAddress=127.0.0.1",
        };
        if (!settings.Any(s => s.StartsWith("Inbound:Listeners:", StringComparison.Ordinal)))
        {
            args.Add("--Inbound:Port=0");
            args.Add("--Inbound:BindAddress=127.0.0.1");
        }

        if (!settings.Any(s => s.StartsWith("Federation:", StringComparison.Ordinal)))
        {
            args.Add("--Federation:Enforce=false");
        }

        // Tests of other concerns send X-Matrix headers with made-up signatures; XMatrixSignatureTests sign for real.
        if (!settings.Any(s => s.StartsWith("Federation:VerifySignatures=", StringComparison.Ordinal)))
        {
            args.Add("--Federation:VerifySignatures=false");
        }

        if (!settings.Any(s => s.StartsWith("Outbound:", StringComparison.Ordinal)))
        {
            args.Add("--Outbound:Enabled=false");
        }
        else
        {
            args.Add("--Outbound:Port=0");
            args.Add("--Outbound:BindAddress=127.0.0.1");
        }

        if (!settings.Any(s => s.StartsWith("TimInformation:", StringComparison.Ordinal)))
        {
            args.Add("--TimInformation:Enabled=false");
        }
        else
        {
            args.Add("--TimInformation:Port=0");
            args.Add("--TimInformation:BindAddress=127.0.0.1");
        }

        // Tests serve plain JSON lists (FakeRegistrationService, admin PUTs); those that verify signed lists say so.
        if (!settings.Any(s => s.StartsWith("Federation:AllowUnsignedList=", StringComparison.Ordinal)))
        {
            args.Add("--Federation:AllowUnsignedList=true");
        }

        string? ownDirectory = null;
        if (!settings.Any(s => s.StartsWith("Federation:CacheFile=", StringComparison.Ordinal)))
        {
            ownDirectory = Path.Combine(Path.GetTempPath(), "mp-fedlist-" + Guid.NewGuid().ToString("N"));
            args.Add($"--Federation:CacheFile={Path.Combine(ownDirectory, "federation-list.json")}");
        }

        args.AddRange(settings.Select(s => "--" + s));

        var app = ProxyApp.Build(args.ToArray(), builder =>
        {
            builder.Logging.ClearProviders();
            configure?.Invoke(builder);
        });
        await app.StartAsync();
        return new ProxyHost(app, ownDirectory);
    }

    public HttpClient CreateClient() => new() { BaseAddress = InboundUri };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (_ownDirectory is not null)
        {
            TestDirectories.Delete(_ownDirectory);
        }
    }
}
