using System.Diagnostics.Metrics;
using MessengerProxy.Hosting.Metrics;

namespace MessengerProxy.Pipeline.Diagnostics;

/// <summary>
/// The request counters and latency of one proxy's pipeline (<c>requests_total</c>, <c>request_duration_seconds</c>,
/// <c>upstream_errors_total</c>), written only by <see cref="ProxyPipeline{TRequest}"/> and the upstream forwarder.
/// The two directions differ only in their meter, the name of the label that groups endpoints (<c>family</c>
/// inbound, <c>kind</c> outbound) and, kept for dashboards that exist, two outcome labels.
/// </summary>
internal sealed class RequestMetrics
{
    // Indexed by RequestOutcome. Inbound has always said "rejected" and counted its own failures as upstream errors.
    private static readonly string[] s_inboundLabels = ["forwarded", "answered", "rejected", "upstream_error", "client_aborted", "upstream_error"];
    private static readonly string[] s_outboundLabels = ["forwarded", "answered", "refused", "upstream_error", "client_aborted", "error"];

    private readonly string _groupLabel;
    private readonly string[] _outcomeLabels;
    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _upstreamErrors;

    private RequestMetrics(Meter meter, string groupLabel, string groupDescription, string upstream, string[] outcomeLabels)
    {
        _groupLabel = groupLabel;
        _outcomeLabels = outcomeLabels;
        _requests = meter.CreateCounter<long>("requests_total", description: $"Requests handled by the proxy, by {groupDescription}, outcome and status class.");
        _duration = meter.CreateHistogram<double>("request_duration_seconds", unit: "s", description: $"Time from request start to the end of the response, by {groupDescription} and outcome.");
        _upstreamErrors = meter.CreateCounter<long>("upstream_errors_total", description: $"Failures talking to {upstream}, by kind.");
    }

    public static RequestMetrics For(Meter meter, PipelineDirection direction) => direction == PipelineDirection.Inbound
        ? new RequestMetrics(meter, "family", "endpoint family", "the homeserver", s_inboundLabels)
        : new RequestMetrics(meter, "kind", "destination kind", "remote servers", s_outboundLabels);

    /// <summary>The label an outcome is exported with.</summary>
    public static string Label(PipelineDirection direction, RequestOutcome outcome) =>
        (direction == PipelineDirection.Inbound ? s_inboundLabels : s_outboundLabels)[(int)outcome];

    public void RequestCompleted(string group, RequestOutcome outcome, int statusCode, double seconds)
    {
        var outcomeLabel = _outcomeLabels[(int)outcome];
        _requests.Add(1,
            new KeyValuePair<string, object?>(_groupLabel, group),
            new KeyValuePair<string, object?>("outcome", outcomeLabel),
            new KeyValuePair<string, object?>("status_class", MetricLabels.StatusClass(statusCode)));
        _duration.Record(seconds,
            new KeyValuePair<string, object?>(_groupLabel, group),
            new KeyValuePair<string, object?>("outcome", outcomeLabel));
    }

    public void UpstreamError(string kind) => _upstreamErrors.Add(1, new KeyValuePair<string, object?>("kind", kind));
}
