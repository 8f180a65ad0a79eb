using System.Diagnostics.Metrics;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>The raw-data reporting counters (<c>messengerproxy_rawdata_*</c>), exported on the health port like every other meter.</summary>
internal sealed class RawDataMetrics
{
    public const string MeterName = "MessengerProxy.RawData";

    private readonly Counter<long> _queued;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _sendFailures;

    public RawDataMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _queued = meter.CreateCounter<long>("records_queued_total", description: "Raw-data records put in the send queue, by operation.");
        _sent = meter.CreateCounter<long>("records_sent_total", description: "Raw-data records the collector accepted.");
        _dropped = meter.CreateCounter<long>("records_dropped_total",
            description: "Raw-data records never delivered, by reason: queue_full (the oldest made room), failed (every attempt failed), shutdown (not sent before the drain timeout).");
        _sendFailures = meter.CreateCounter<long>("send_failures_total", description: "Failed POSTs to the collector (each attempt), by reason: status, timeout, unreachable.");
    }

    public void Queued(string operation) => _queued.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Sent() => _sent.Add(1);

    public void Dropped(string reason, long count = 1) => _dropped.Add(count, new KeyValuePair<string, object?>("reason", reason));

    public void SendFailed(string reason) => _sendFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
