using System.Net;
using System.Text.Json.Nodes;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using MessengerProxy.LowBandwidth.Transport;
using MessengerProxy.Policy.Versions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth;

/// <summary>
/// Runs the front door's listeners (DTLS, and plain CoAP where configured), forgets idle associations and uploads, and
/// announces the DTLS port in <c>/_matrix/client/versions</c> (through <see cref="IVersionsAdvertisement"/>, which
/// the inbound pipeline reads without knowing the front door). Stopping waits for every request and observation
/// the listeners started.
/// </summary>
internal sealed class LowBandwidthServer : IHostedService, IVersionsAdvertisement, IAsyncDisposable
{
    private readonly LowBandwidthOptions _options;
    private readonly CoapEndpoint _endpoint;
    private readonly IOptions<LowBandwidthOptions> _optionsAccessor;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggers;
    private readonly LowBandwidthMetrics _metrics;
    private readonly BodyBudget _budget;
    private PlainCoapTransport? _plain;
    private DtlsListener? _dtls;
    private AssociationTable<IPEndPoint>? _plainAssociations;
    private ITimer? _sweeper;

    public LowBandwidthServer(IOptions<LowBandwidthOptions> options, CoapEndpoint endpoint, TimeProvider time, LowBandwidthMetrics metrics, BodyBudget budget, ILoggerFactory loggers)
    {
        _metrics = metrics;
        _budget = budget;
        _optionsAccessor = options;
        _options = options.Value;
        _endpoint = endpoint;
        _time = time;
        _loggers = loggers;
    }

    public IPEndPoint? PlainEndPoint => _plain?.LocalEndPoint;

    public IPEndPoint? DtlsEndPoint { get; private set; }

    /// <summary>The DTLS listener while running (for diagnostics and tests).</summary>
    internal DtlsListener? Dtls => _dtls;

    /// <summary>The plain CoAP listener while running (for diagnostics and tests).</summary>
    internal PlainCoapTransport? Plain => _plain;

    public IEnumerable<KeyValuePair<string, JsonNode>> Members
    {
        get
        {
            if (!_options.Enabled || DtlsEndPoint is null)
            {
                yield break;
            }

            var port = _options.AdvertisedPort > 0 ? _options.AdvertisedPort : DtlsEndPoint.Port;
            foreach (var name in new[] { "org.matrix.msc3079.low_bandwidth", "m.low_bandwidth" })
            {
                yield return new(name, new JsonObject { ["dtls"] = port, ["cbor_enum_version"] = 1, ["coap_enum_version"] = 1 });
            }
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return Task.CompletedTask;
        }

        if (_options.PlainPort is { } plainPort)
        {
            var address = ListenerAddresses.Parse(_options.PlainBindAddress) ?? IPAddress.Loopback;
            _plainAssociations = new AssociationTable<IPEndPoint>(_optionsAccessor, _time);
            _plain = new PlainCoapTransport(new IPEndPoint(address, plainPort), _endpoint, _plainAssociations, _loggers.CreateLogger<PlainCoapTransport>());
            _plain.Start();
        }

        if (!string.IsNullOrEmpty(_options.CertificatePath))
        {
            var address = ListenerAddresses.Parse(_options.BindAddress) ?? IPAddress.IPv6Any;
            _dtls = new DtlsListener(new IPEndPoint(address, _options.Port), _optionsAccessor, _endpoint, _time, _metrics, _loggers.CreateLogger<DtlsListener>());
            DtlsEndPoint = _dtls.LocalEndPoint;
            _dtls.Start();
        }

        // Idle uploads are dropped a quarter of their timeout late at most, whether or not their clients come back.
        var sweepEvery = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(1).Ticks, Math.Min(_options.IdleTimeout.Ticks, _options.UploadIdleTimeout.Ticks) / 4));
        _sweeper = _time.CreateTimer(_ => Sweep(), null, sweepEvery, sweepEvery);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync();
            _sweeper = null;
        }

        // Both at once: each cancels its own work first, then waits for it.
        await Task.WhenAll(_plain?.StopAsync(cancellationToken) ?? Task.CompletedTask, _dtls?.StopAsync(cancellationToken) ?? Task.CompletedTask);
        _plain = null;
        _dtls = null;
        DtlsEndPoint = null;
    }

    private void Sweep()
    {
        _plainAssociations?.Sweep();
        _dtls?.Sweep();
        _budget.Sweep();
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
