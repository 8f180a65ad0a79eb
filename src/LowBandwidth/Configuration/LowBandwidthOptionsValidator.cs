using MessengerProxy.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Configuration;

internal sealed class LowBandwidthOptionsValidator : IValidateOptions<LowBandwidthOptions>
{
    public ValidateOptionsResult Validate(string? name, LowBandwidthOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new List<string>();
        const string S = LowBandwidthOptions.SectionName;
        ListenerAddresses.CheckPort(errors, $"{S}:Port", options.Port);
        ListenerAddresses.Check(errors, $"{S}:BindAddress", options.BindAddress);
        ListenerAddresses.Check(errors, $"{S}:PlainBindAddress", options.PlainBindAddress);
        if (options.PlainPort is { } plain)
        {
            ListenerAddresses.CheckPort(errors, $"{S}:PlainPort", plain);
        }

        if (string.IsNullOrEmpty(options.CertificatePath) != string.IsNullOrEmpty(options.KeyPath))
        {
            errors.Add($"{S}:CertificatePath and {S}:KeyPath must be set together");
        }
        else if (!string.IsNullOrEmpty(options.CertificatePath))
        {
            ConfigurationChecks.CheckFileExists(errors, $"{S}:CertificatePath", options.CertificatePath);
            ConfigurationChecks.CheckFileExists(errors, $"{S}:KeyPath", options.KeyPath);
        }
        else if (options.PlainPort is null)
        {
            errors.Add($"{S}:CertificatePath and {S}:KeyPath are required for DTLS (or set {S}:Enabled=false)");
        }

        if (options.BlockSize is not (16 or 32 or 64 or 128 or 256 or 512 or 1024))
        {
            errors.Add($"{S}:BlockSize must be a power of two from 16 to 1024 (got {options.BlockSize})");
        }

        if (!string.IsNullOrEmpty(options.AdvertisedBaseUrl) && !ConfigurationChecks.TryParseHttpBaseUrl(options.AdvertisedBaseUrl, out _, out var why))
        {
            errors.Add($"{S}:AdvertisedBaseUrl {why} (got '{options.AdvertisedBaseUrl}')");
        }

        foreach (var (key, value) in new[] { ("AckDelay", options.AckDelay), ("AckTimeout", options.AckTimeout), ("IdleTimeout", options.IdleTimeout), ("HandshakeTimeout", options.HandshakeTimeout), ("HandshakeStallTimeout", options.HandshakeStallTimeout), ("UploadIdleTimeout", options.UploadIdleTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{S}:{key} must be positive (got {value})");
            }
        }

        foreach (var (key, value) in new[]
                 {
                     ("MaxRetransmit", options.MaxRetransmit), ("MaxRequestsInFlight", options.MaxRequestsInFlight), ("MaxAssociations", options.MaxAssociations), ("MaxConcurrentHandshakes", options.MaxConcurrentHandshakes), ("MaxHandshakesPerSourceNetwork", options.MaxHandshakesPerSourceNetwork),
                     ("MaxRequestBodyBytes", options.MaxRequestBodyBytes), ("MaxResponseBodyBytes", options.MaxResponseBodyBytes), ("MaxBufferedBodyBytes", options.MaxBufferedBodyBytes), ("MaxCborDepth", options.MaxCborDepth),
                 })
        {
            if (value <= 0)
            {
                errors.Add($"{S}:{key} must be positive (got {value})");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
