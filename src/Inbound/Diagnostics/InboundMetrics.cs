using System.Diagnostics.Metrics;
using MessengerProxy.Hosting.Metrics;

namespace MessengerProxy.Inbound.Diagnostics;

/// <summary>How a request left the inbound pipeline; a metrics label.</summary>
internal enum RequestOutcome
{
    /// <summary>Sent to the homeserver and its answer relayed.</summary>
    Forwarded,

    /// <summary>Answered by the proxy itself (well-known, support).</summary>
    Answered,

    /// <summary>Refused by policy (unknown endpoint, wrong method, too large, malformed, missing token).</summary>
    Rejected,

    /// <summary>The homeserver could not be reached, timed out, or answered something unusable.</summary>
    UpstreamError,

    /// <summary>The client went away before the answer was complete.</summary>
    ClientAborted,
}

/// <summary>Inbound request counters and latency; exported in Prometheus format on the health port.</summary>
internal sealed class InboundMetrics
{
    public const string MeterName = "MessengerProxy.Inbound";

    private readonly Counter<long> _requests;
    private readonly Histogram<double> _duration;
    private readonly Counter<long> _upstreamErrors;
    private readonly Counter<long> _wrongListener;
    private readonly Counter<long> _ruleRefusals;
    private readonly Counter<long> _ruleRewrites;

    public InboundMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("requests_total", description: "Requests handled by the inbound proxy, by endpoint family, outcome and status class.");
        _duration = meter.CreateHistogram<double>("request_duration_seconds", unit: "s", description: "Time from request start to the end of the response, by endpoint family and outcome.");
        _upstreamErrors = meter.CreateCounter<long>("upstream_errors_total", description: "Failures talking to the homeserver, by kind.");
        _wrongListener = meter.CreateCounter<long>("listener_refusals_total",
            description: "Requests refused because their endpoint's API is not served on the listener they arrived on, by the listener's APIs and the endpoint family.");
        _ruleRefusals = meter.CreateCounter<long>("rule_refusals_total", description: "Requests refused by a TIM rule or endpoint override, by rule name.");
        _ruleRewrites = meter.CreateCounter<long>("rule_rewrites_total", description: "Request bodies a TIM rule rewrote before forwarding, by rule name.");
    }

    public void RequestCompleted(string family, RequestOutcome outcome, int statusCode, double seconds)
    {
        var outcomeLabel = OutcomeLabel(outcome);
        _requests.Add(1,
            new KeyValuePair<string, object?>("family", family),
            new KeyValuePair<string, object?>("outcome", outcomeLabel),
            new KeyValuePair<string, object?>("status_class", MetricLabels.StatusClass(statusCode)));
        _duration.Record(seconds,
            new KeyValuePair<string, object?>("family", family),
            new KeyValuePair<string, object?>("outcome", outcomeLabel));
    }

    /// <summary>Also counted in <c>requests_total</c> as an unmatched rejection.</summary>
    public void WrongListener(string listenerApis, string family) => _wrongListener.Add(1,
        new KeyValuePair<string, object?>("listener", listenerApis),
        new KeyValuePair<string, object?>("family", family));

    public void UpstreamError(string kind) => _upstreamErrors.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void RuleRefused(string rule) => _ruleRefusals.Add(1, new KeyValuePair<string, object?>("rule", rule));

    public void RuleRewrote(string rule) => _ruleRewrites.Add(1, new KeyValuePair<string, object?>("rule", rule));

    private static string OutcomeLabel(RequestOutcome outcome) => outcome switch
    {
        RequestOutcome.Forwarded => "forwarded",
        RequestOutcome.Answered => "answered",
        RequestOutcome.Rejected => "rejected",
        RequestOutcome.UpstreamError => "upstream_error",
        _ => "client_aborted",
    };
}
