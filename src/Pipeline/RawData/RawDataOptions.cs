using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>Raw-data reporting ("Rohdaten") to the rawdata-master (configuration section <c>RawData</c>); off while <see cref="CollectorUrl"/> is empty.</summary>
internal sealed class RawDataOptions
{
    public const string SectionName = "RawData";

    /// <summary>Where records are POSTed, e.g. <c>http://rawdata-master:9020/add-performance-data</c>; empty: no reporting.</summary>
    public string CollectorUrl { get; set; } = string.Empty;

    /// <summary><c>Inst-ID</c>: this proxy instance as the operator registered it (the reference wrongly sends the operation code).</summary>
    public string InstanceId { get; set; } = string.Empty;

    /// <summary><c>M-Dom</c>: the organisation's Matrix domain; also what an invitee's server name is compared with.</summary>
    public string MatrixDomain { get; set; } = string.Empty;

    /// <summary><c>profOID</c>: the organisation's profession OID.</summary>
    public string ProfessionOid { get; set; } = string.Empty;

    /// <summary><c>tID</c>: the organisation's Telematik-ID.</summary>
    public string TelematikId { get; set; } = string.Empty;

    /// <summary>Records waiting to be sent at most; beyond it the oldest is dropped (and counted).</summary>
    public int QueueCapacity { get; set; } = 10_000;

    /// <summary>Records the sender takes from the queue at once.</summary>
    public int BatchSize { get; set; } = 100;

    /// <summary>Attempts per record (the first included) before it is dropped as failed.</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Wait after the first failed attempt; doubled after each further one up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Timeout of one POST to the collector.</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long shutdown waits for queued records to be sent (one attempt each) before dropping the rest.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    public bool Enabled => !string.IsNullOrEmpty(CollectorUrl);
}

internal sealed class RawDataOptionsValidator : IValidateOptions<RawDataOptions>
{
    public ValidateOptionsResult Validate(string? name, RawDataOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new OptionsErrors(RawDataOptions.SectionName);
        errors.HttpBaseUrl(options.CollectorUrl, allowPath: true);
        Required(errors, options.InstanceId, errors.Key("options.InstanceId"), "Inst-ID");
        Required(errors, options.ProfessionOid, errors.Key("options.ProfessionOid"), "profOID");
        Required(errors, options.TelematikId, errors.Key("options.TelematikId"), "tID");
        if (!ServerName.TryParse(options.MatrixDomain, out _))
        {
            errors.Add($"{errors.Key("options.MatrixDomain")} must be the organisation's Matrix server name (M-Dom), e.g. hs.example (got '{options.MatrixDomain}')");
        }

        errors.Positive(options.QueueCapacity);
        errors.Positive(options.BatchSize);
        errors.Positive(options.MaxAttempts);
        errors.Positive(options.RetryDelay);
        errors.Positive(options.MaxRetryDelay);
        errors.Positive(options.SendTimeout);
        errors.Positive(options.DrainTimeout);
        return errors.Result;
    }

    private static void Required(OptionsErrors errors, string value, string key, string field)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{key} must be set while {errors.Section}:CollectorUrl is: every record carries it as {field}");
        }
    }
}
