using System.Diagnostics.Metrics;

namespace MessengerProxy.LowBandwidth.Diagnostics;

/// <summary>
/// What the front door refuses or drops itself, before anything reaches the inbound pipeline (whose own
/// metrics count what it forwards); exported in Prometheus format on the health port.
/// </summary>
internal sealed class LowBandwidthMetrics
{
    public const string MeterName = "MessengerProxy.LowBandwidth";

    private readonly Counter<long> _rejected;
    private readonly Counter<long> _handshakesDropped;
    private readonly Counter<long> _bodiesDropped;

    public LowBandwidthMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _rejected = meter.CreateCounter<long>("requests_rejected_total", description: "CoAP requests the front door answered with an error of its own, by CoAP code and Matrix errcode.");
        _handshakesDropped = meter.CreateCounter<long>("handshakes_dropped_total", description: "DTLS handshakes refused or ended early, by reason (source_network_limit, full, association_limit, stalled, evicted).");
        _bodiesDropped = meter.CreateCounter<long>("buffered_bodies_dropped_total", description: "Block1 uploads and Block2 answers dropped before their end, by kind (upload, answer) and reason (budget, idle).");
    }

    /// <param name="code">The CoAP code in dotted form (4.00); a small fixed set, as is <paramref name="errcode"/>.</param>
    public void RequestRejected(string code, string errcode) =>
        _rejected.Add(1, new KeyValuePair<string, object?>("code", code), new KeyValuePair<string, object?>("errcode", errcode));

    public void HandshakeDropped(string reason) => _handshakesDropped.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void BodyDropped(string kind, string reason) =>
        _bodiesDropped.Add(1, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("reason", reason));
}
