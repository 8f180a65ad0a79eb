using System.Diagnostics.Metrics;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Diagnostics;

namespace MessengerProxy.Outbound.Diagnostics;

/// <summary>
/// Tunnel, request and certificate metrics of the outbound proxy; exported in Prometheus format on the health port.
/// The request counters are the pipeline's (<see cref="Requests"/>).
/// </summary>
internal sealed class OutboundMetrics
{
    public const string MeterName = "MessengerProxy.Outbound";

    private readonly Counter<long> _tunnels;
    private readonly UpDownCounter<long> _openConnections;
    private readonly Counter<long> _minted;
    private readonly Histogram<double> _mintDuration;

    public OutboundMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _tunnels = meter.CreateCounter<long>("tunnels_total", description: "CONNECT requests, by outcome (opened, relayed, refused_inside, refused, unauthenticated, malformed, handshake_failed, limit).");
        _openConnections = meter.CreateUpDownCounter<long>("connections_open", description: "Client connections open on the outbound listener.");
        Requests = RequestMetrics.For(meter, PipelineDirection.Outbound);
        _minted = meter.CreateCounter<long>("certificates_minted_total", description: "Leaf certificates minted from the proxy CA.");
        _mintDuration = meter.CreateHistogram<double>("certificate_mint_seconds", unit: "s", description: "Time to mint one leaf certificate.");
    }

    /// <summary><c>requests_total</c>, <c>request_duration_seconds</c>, <c>upstream_errors_total</c>.</summary>
    internal RequestMetrics Requests { get; }

    public void Tunnel(string outcome) => _tunnels.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void ConnectionOpened() => _openConnections.Add(1);

    public void ConnectionClosed() => _openConnections.Add(-1);

    public void CertificateMinted(double seconds)
    {
        _minted.Add(1);
        _mintDuration.Record(seconds);
    }
}
