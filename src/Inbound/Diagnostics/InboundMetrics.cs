using System.Diagnostics.Metrics;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Diagnostics;

namespace MessengerProxy.Inbound.Diagnostics;

/// <summary>
/// Inbound metrics; exported in Prometheus format on the health port. The request counters are the pipeline's
/// (<see cref="Requests"/>); the rest are the inbound stages' own.
/// </summary>
internal sealed class InboundMetrics
{
    public const string MeterName = "MessengerProxy.Inbound";

    private readonly Counter<long> _wrongListener;
    private readonly Counter<long> _ruleRefusals;
    private readonly Counter<long> _ruleRewrites;
    private readonly Counter<long> _signatures;
    private readonly Counter<long> _keyFetches;

    public InboundMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        Requests = RequestMetrics.For(meter, PipelineDirection.Inbound);
        _wrongListener = meter.CreateCounter<long>("listener_refusals_total",
            description: "Requests refused because their endpoint's API is not served on the listener they arrived on, by the listener's APIs and the endpoint family.");
        _ruleRefusals = meter.CreateCounter<long>("rule_refusals_total", description: "Requests refused by a TIM rule or endpoint override, by rule name.");
        _ruleRewrites = meter.CreateCounter<long>("rule_rewrites_total", description: "Request bodies a TIM rule rewrote before forwarding, by rule name.");
        _signatures = meter.CreateCounter<long>("xmatrix_signatures_total",
            description: "X-Matrix signatures checked by the proxy, by result (verified, or the reason of the refusal).");
        _keyFetches = meter.CreateCounter<long>("server_key_fetches_total", description: "Fetches of other servers' keys from the notary, by result.");
    }

    /// <summary><c>requests_total</c>, <c>request_duration_seconds</c>, <c>upstream_errors_total</c>.</summary>
    public RequestMetrics Requests { get; }

    /// <summary>Also counted in <c>requests_total</c> as an unmatched rejection.</summary>
    public void WrongListener(string listenerApis, string family) => _wrongListener.Add(1,
        new KeyValuePair<string, object?>("listener", listenerApis),
        new KeyValuePair<string, object?>("family", family));

    public void UpstreamError(string kind) => Requests.UpstreamError(kind);

    public void RuleRefused(string rule) => _ruleRefusals.Add(1, new KeyValuePair<string, object?>("rule", rule));

    public void SignatureChecked(string result) => _signatures.Add(1, new KeyValuePair<string, object?>("result", result));

    public void KeyFetch(string result) => _keyFetches.Add(1, new KeyValuePair<string, object?>("result", result));

    public void RuleRewrote(string rule) => _ruleRewrites.Add(1, new KeyValuePair<string, object?>("rule", rule));
}
