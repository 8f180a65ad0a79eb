using System.Diagnostics.Metrics;

namespace MessengerProxy.Inbound.Information;

/// <summary>Counters of the TI-M information API; exported on the health port like every other meter.</summary>
internal sealed class TimInformationMetrics
{
    public const string MeterName = "MessengerProxy.TimInformation";

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _tokenChecks;

    public TimInformationMetrics(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _requests = _meter.CreateCounter<long>("requests_total", description: "Requests of the TI-M information API, by operation and answer status.");
        _tokenChecks = _meter.CreateCounter<long>("token_checks_total",
            description: "OpenID token checks, by result: cached, valid, invalid (both asked the homeserver), unavailable.");
    }

    public void RequestCompleted(string operation, int status) =>
        _requests.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("status", status));

    public void TokenChecked(string result) => _tokenChecks.Add(1, new KeyValuePair<string, object?>("result", result));

    public void ObserveCachedTokens(Func<int> count) =>
        _meter.CreateObservableGauge("cached_tokens", count, description: "OpenID tokens currently trusted without asking the homeserver.");
}
