using System.Net;
using System.Net.Sockets;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using System.Diagnostics.Metrics;
using MessengerProxy.Host;
using MessengerProxy.Hosting.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace MessengerProxy.InboundBench;

/// <summary>
/// Bytes allocated per forwarded GET, all in one process on loopback, against the same upstream (a fixed 70-byte
/// JSON answer) and the same client: the upstream alone (<c>Direct</c>), a bare YARP forward that sets the same
/// headers (X-Forwarded-For/-Proto/-Host, the original Host) over YARP's default client (<c>BareYarp</c>), and the
/// messenger proxy as the executable composes it: allowlist, policies, raw target, X-Forwarded-* (<c>Proxy</c>), and
/// the same with raw-data reporting on (<c>ProxyReporting</c>: the target is a reported endpoint; its records go to
/// a collector stand-in answering 200).
/// BenchmarkDotNet counts what every thread allocates, so client, Kestrel and upstream are in each figure; the
/// proxy's own share is a row minus <c>Direct</c>.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(InProcessConfig))]
public class ForwardAllocationBenchmarks
{
    private const string Target = "/_matrix/client/v3/rooms/%21room%3Aexample.org/event/%24event%3Aexample.org";
    private static readonly byte[] s_answer = """{"type":"m.room.message","content":{"body":"hi"},"sender":"@a:x.y"}"""u8.ToArray();

    private readonly List<IAsyncDisposable> _apps = [];
    private readonly List<HttpClient> _clients = [];
    private string? _cacheDirectory;
    private HttpClient _direct = null!;
    private HttpClient _yarp = null!;
    private HttpClient _proxy = null!;
    private HttpClient _unobserved = null!;
    private HttpClient _reporting = null!;

    [GlobalSetup]
    public void Setup() => SetupAsync().GetAwaiter().GetResult();

    [GlobalCleanup]
    public void Cleanup()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        foreach (var app in _apps)
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        if (_cacheDirectory is not null)
        {
            Directory.Delete(_cacheDirectory, recursive: true);
        }
    }

    [Benchmark(Baseline = true)]
    public Task<int> Direct() => GetAsync(_direct);

    [Benchmark]
    public Task<int> BareYarp() => GetAsync(_yarp);

    [Benchmark]
    public Task<int> Proxy() => GetAsync(_proxy);

    /// <summary>The same proxy with nothing listening to its meters (the Prometheus export off): what observing costs.</summary>
    [Benchmark]
    public Task<int> ProxyUnobserved() => GetAsync(_unobserved);

    /// <summary>The proxy with raw-data reporting on: what a reported request costs on top of <c>Proxy</c>.</summary>
    [Benchmark]
    public Task<int> ProxyReporting() => GetAsync(_reporting);

    private static async Task<int> GetAsync(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, Target);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        await response.Content.CopyToAsync(Stream.Null);
        return (int)response.StatusCode == 200 ? 1 : throw new InvalidOperationException($"answered {(int)response.StatusCode}");
    }

    private async Task SetupAsync()
    {
        var upstreamPort = FreePort();
        var upstream = Server(upstreamPort, slim: true);
        upstream.Run(context =>
        {
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = s_answer.Length;
            return context.Response.Body.WriteAsync(s_answer).AsTask();
        });
        await Start(upstream);
        var upstreamUrl = $"http://127.0.0.1:{upstreamPort}";

        var yarpPort = FreePort();
        var yarp = Server(yarpPort, slim: false, services => services.AddHttpForwarder());
        var forwarder = yarp.Services.GetRequiredService<IHttpForwarder>();
        var invoker = new ForwarderHttpClientFactory().CreateClient(new ForwarderHttpClientContext { NewConfig = Yarp.ReverseProxy.Configuration.HttpClientConfig.Empty });
        var transformer = yarp.Services.GetRequiredService<ITransformBuilder>().Create(context =>
        {
            context.UseDefaultForwarders = false;
            context.AddXForwardedFor(action: ForwardedTransformActions.Set);
            context.AddXForwardedProto(action: ForwardedTransformActions.Set);
            context.AddXForwardedHost(action: ForwardedTransformActions.Set);
            context.AddOriginalHost(true);
        });
        var config = new ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30), Version = HttpVersion.Version11, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };
        yarp.Run(async context => await forwarder.SendAsync(context, upstreamUrl, invoker, config, transformer));
        await Start(yarp);

        _cacheDirectory = Directory.CreateTempSubdirectory("mp-bench-").FullName;
        var proxyPort = await StartProxyAsync(upstreamUrl, "observed", observed: true);
        var unobservedPort = await StartProxyAsync(upstreamUrl, "unobserved", observed: false);

        var collectorPort = FreePort();
        var collector = Server(collectorPort, slim: true);
        collector.Run(async context =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.StatusCode = 200;
        });
        await Start(collector);
        var reportingPort = await StartProxyAsync(upstreamUrl, "reporting", observed: true,
            $"--RawData:CollectorUrl=http://127.0.0.1:{collectorPort}/add-performance-data", "--RawData:InstanceId=bench", "--RawData:MatrixDomain=example.org",
            "--RawData:ProfessionOid=1.2.276.0.76.4.53", "--RawData:TelematikId=1-bench");

        _direct = Client(upstreamPort);
        _yarp = Client(yarpPort);
        _proxy = Client(proxyPort);
        _unobserved = Client(unobservedPort);
        _reporting = Client(reportingPort);
        foreach (var client in _clients)
        {
            await GetAsync(client);
        }
    }

    private async Task<int> StartProxyAsync(string upstreamUrl, string name, bool observed, params string[] settings)
    {
        var port = FreePort();
        var proxy = ProxyApp.Build(
        [
            $"--Inbound:HomeserverUrl={upstreamUrl}", $"--Inbound:Port={port}", "--Inbound:BindAddress=127.0.0.1",
            "--Health:Port=0", "--Health:BindAddress=127.0.0.1", "--Federation:Enforce=false", "--Outbound:Enabled=false", "--TimInformation:Enabled=false",
            $"--Federation:CacheFile={Path.Combine(_cacheDirectory!, name, "federation-list.json")}",
            .. settings,
        ], builder =>
        {
            builder.Logging.ClearProviders();
            if (!observed)
            {
                // An exporter of another meter factory's instruments: nothing of this host's is listened to.
                builder.Services.AddSingleton(new PrometheusExporter(new UnobservedMeters()));
            }
        });
        await Start(proxy);
        return port;
    }

    // The YARP forward runs on the same full WebApplication host the proxy uses, so only the forwarding differs.
    private static WebApplication Server(int port, bool slim, Action<IServiceCollection>? services = null)
    {
        var builder = slim ? WebApplication.CreateSlimBuilder() : WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        services?.Invoke(builder.Services);
        return builder.Build();
    }

    private async Task Start(WebApplication app)
    {
        await app.StartAsync();
        _apps.Add(app);
    }

    private HttpClient Client(int port)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, UseCookies = false })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}"),
            DefaultRequestHeaders = { { "Authorization", "Bearer syt_bench_token" } },
        };
        _clients.Add(client);
        return client;
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private sealed class UnobservedMeters : IMeterFactory
    {
        public Meter Create(MeterOptions options) => new(options);

        public void Dispose()
        {
        }
    }

    // In process: the servers live in the benchmark's process, and a separate build per run would only add minutes.
    private sealed class InProcessConfig : ManualConfig
    {
        public InProcessConfig() => AddJob(Job.Default
            .WithToolchain(InProcessEmitToolchain.Instance)
            .WithStrategy(RunStrategy.Throughput)
            .WithLaunchCount(1)
            .WithWarmupCount(5)
            .WithIterationCount(10));
    }
}
