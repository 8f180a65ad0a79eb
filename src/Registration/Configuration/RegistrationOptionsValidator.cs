using MessengerProxy.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Configuration;

internal sealed class RegistrationOptionsValidator : IValidateOptions<RegistrationOptions>
{
    public ValidateOptionsResult Validate(string? name, RegistrationOptions options)
    {
        var errors = new OptionsErrors(RegistrationOptions.SectionName);
        const string S = RegistrationOptions.SectionName;
        if (string.IsNullOrWhiteSpace(options.ConnectionString))
        {
            errors.Add($"{S}:ConnectionString is required (e.g. Host=postgres;Database=registration;Username=registration;Password=...)");
        }
        else
        {
            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{S}:ConnectionString is not a valid connection string: {ex.Message}");
            }
        }

        if (options.AdminToken.Length < 32)
        {
            errors.Add($"{S}:AdminToken must be at least 32 characters (got {options.AdminToken.Length})");
        }

        errors.Port(options.Port);
        errors.Port(options.HealthPort);
        if (options.Port != 0 && options.Port == options.HealthPort)
        {
            errors.Add($"{S}:HealthPort {options.HealthPort} clashes with {S}:Port");
        }

        errors.BindAddress(options.BindAddress);
        errors.BindAddress(options.HealthBindAddress);
        errors.Positive(options.MaxBodyBytes);
        errors.Positive(options.MaxListAge);

        foreach (var algorithm in options.Vzd.Algorithms)
        {
            if (algorithm is not ("BP256R1" or "ES256"))
            {
                errors.Add($"{S}:Vzd:Algorithms: '{algorithm}' is not BP256R1 or ES256");
            }
        }

        for (var i = 0; i < options.Vzd.TrustAnchors.Count; i++)
        {
            errors.FileExistsAt($"{S}:Vzd:TrustAnchors:{i}", options.Vzd.TrustAnchors[i]);
        }

        if (!string.IsNullOrEmpty(options.Vzd.FederationListUrl))
        {
            if (!Uri.TryCreate(options.Vzd.FederationListUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"{S}:Vzd:FederationListUrl must be an absolute http(s) URL (got '{options.Vzd.FederationListUrl}')");
            }

            if (options.Vzd.TrustAnchors.Count == 0)
            {
                errors.Add($"{S}:Vzd:FederationListUrl is set but {S}:Vzd:TrustAnchors is empty; no list could ever be verified");
            }
        }

        if (options.Vzd.PollInterval < TimeSpan.FromSeconds(1))
        {
            errors.Add($"{S}:Vzd:PollInterval must be at least 1 s (got {options.Vzd.PollInterval})");
        }

        errors.Positive(options.Vzd.RequestTimeout);
        errors.HttpBaseUrl(options.Vzd.Ocsp.ResponderUrl, allowPath: true);
        errors.Positive(options.Vzd.Ocsp.Timeout);
        errors.Positive(options.Vzd.Ocsp.MaxResponseBytes);
        return errors.Result;
    }
}
