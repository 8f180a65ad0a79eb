using System.Diagnostics.Metrics;

namespace MessengerProxy.Registration.Vzd;

/// <summary>Counters of the VZD authentication (<c>messengerproxy_vzd_*</c>).</summary>
internal sealed class VzdMetrics
{
    public const string MeterName = "MessengerProxy.Vzd";

    private readonly Counter<long> _tokens;
    private readonly Counter<long> _rejections;
    private readonly Counter<long> _failures;

    public VzdMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _tokens = meter.CreateCounter<long>("tokens_issued_total", description: "VZD tokens obtained (client-credentials grant, then ti-provider-authenticate).");
        _rejections = meter.CreateCounter<long>("token_rejections_total", description: "VZD answers 401 to a token that was held valid (each leads to one new authentication).");
        _failures = meter.CreateCounter<long>("authentication_failures_total", description: "VZD authentications that gave no usable token, by reason.");
    }

    public void TokenIssued() => _tokens.Add(1);

    public void TokenRejected() => _rejections.Add(1);

    public void Failed(VzdAuthenticationFailure failure) =>
        _failures.Add(1, new KeyValuePair<string, object?>("reason", VzdAuthenticationException.Label(failure)));
}
