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

        var errors = new OptionsErrors(LowBandwidthOptions.SectionName);
        const string S = LowBandwidthOptions.SectionName;
        errors.Port(options.Port);
        errors.BindAddress(options.BindAddress);
        errors.BindAddress(options.PlainBindAddress);
        if (options.PlainPort is { } plain)
        {
            errors.PortAt($"{S}:PlainPort", plain);
        }

        if (string.IsNullOrEmpty(options.CertificatePath) != string.IsNullOrEmpty(options.KeyPath))
        {
            errors.Add($"{S}:CertificatePath and {S}:KeyPath must be set together");
        }
        else if (!string.IsNullOrEmpty(options.CertificatePath))
        {
            errors.FileExists(options.CertificatePath);
            errors.FileExists(options.KeyPath);
        }
        else if (options.PlainPort is null)
        {
            errors.Add($"{S}:CertificatePath and {S}:KeyPath are required for DTLS (or set {S}:Enabled=false)");
        }

        if (options.BlockSize is not (16 or 32 or 64 or 128 or 256 or 512 or 1024))
        {
            errors.Add($"{S}:BlockSize must be a power of two from 16 to 1024 (got {options.BlockSize})");
        }

        errors.HttpBaseUrl(options.AdvertisedBaseUrl);

        errors.Positive(options.AckDelay);
        errors.Positive(options.AckTimeout);
        errors.Positive(options.IdleTimeout);
        errors.Positive(options.HandshakeTimeout);
        errors.Positive(options.HandshakeStallTimeout);
        errors.Positive(options.UploadIdleTimeout);
        errors.Positive(options.MaxRetransmit);
        errors.Positive(options.MaxRequestsInFlight);
        errors.Positive(options.MaxAssociations);
        errors.Positive(options.MaxConcurrentHandshakes);
        errors.Positive(options.MaxHandshakesPerSourceNetwork);
        errors.Positive(options.MaxRequestBodyBytes);
        errors.Positive(options.MaxResponseBodyBytes);
        errors.Positive(options.MaxBufferedBodyBytes);
        errors.Positive(options.MaxCborDepth);
        return errors.Result;
    }
}
