using System.Diagnostics.Metrics;
using MessengerProxy.Hosting.Metrics;

namespace MessengerProxy.Outbound.Diagnostics;

/// <summary>Tunnel, request and certificate metrics of the outbound proxy; exported in Prometheus format on the health port.</summary>
public sealed class OutboundMetrics
{
    public const string MeterName = "MessengerProxy.Outbound";

    private readonly Counter<long> _tunnels;
    private readonly UpDownCounter<long> _openConnections;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _minted;
    private readonly Histogram<double> _mintDuration;

    public OutboundMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _tunnels = meter.CreateCounter<long>("tunnels_total", description: "CONNECT requests, by outcome (opened, relayed, refused_inside, refused, unauthenticated, malformed, handshake_failed, limit).");
        _openConnections = meter.CreateUpDownCounter<long>("connections_open", description: "Client connections open on the outbound listener.");
        _requests = meter.CreateCounter<long>("requests_total", description: "Requests the homeserver sent out, by destination kind, outcome and status class.");
        _duration = meter.CreateHistogram<double>("request_duration_seconds", unit: "s", description: "Time from request start to the end of the response, by destination kind and outcome.");
        _minted = meter.CreateCounter<long>("certificates_minted_total", description: "Leaf certificates minted from the proxy CA.");
        _mintDuration = meter.CreateHistogram<double>("certificate_mint_seconds", unit: "s", description: "Time to mint one leaf certificate.");
    }

    public void Tunnel(string outcome) => _tunnels.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void ConnectionOpened() => _openConnections.Add(1);

    public void ConnectionClosed() => _openConnections.Add(-1);

    public void CertificateMinted(double seconds)
    {
        _minted.Add(1);
        _mintDuration.Record(seconds);
    }

    public void RequestCompleted(string kind, string outcome, int statusCode, double seconds)
    {
        _requests.Add(1,
            new KeyValuePair<string, object?>("kind", kind),
            new KeyValuePair<string, object?>("outcome", outcome),
            new KeyValuePair<string, object?>("status_class", MetricLabels.StatusClass(statusCode)));
        _duration.Record(seconds,
            new KeyValuePair<string, object?>("kind", kind),
            new KeyValuePair<string, object?>("outcome", outcome));
    }
}
