using MessengerProxy.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Configuration;

internal sealed class RegistrationOptionsValidator : IValidateOptions<RegistrationOptions>
{
    public ValidateOptionsResult Validate(string? name, RegistrationOptions options)
    {
        var errors = new List<string>();
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

        ListenerAddresses.CheckPort(errors, $"{S}:Port", options.Port);
        ListenerAddresses.CheckPort(errors, $"{S}:HealthPort", options.HealthPort);

        if (options.Port != 0 && options.Port == options.HealthPort)
        {
            errors.Add($"{S}:HealthPort {options.HealthPort} clashes with {S}:Port");
        }

        ListenerAddresses.Check(errors, $"{S}:BindAddress", options.BindAddress);
        ListenerAddresses.Check(errors, $"{S}:HealthBindAddress", options.HealthBindAddress);

        if (options.MaxBodyBytes <= 0)
        {
            errors.Add($"{S}:MaxBodyBytes must be positive (got {options.MaxBodyBytes})");
        }

        if (options.MaxListAge <= TimeSpan.Zero)
        {
            errors.Add($"{S}:MaxListAge must be positive (got {options.MaxListAge})");
        }

        var vzd = options.Vzd;
        foreach (var algorithm in vzd.Algorithms)
        {
            if (algorithm is not ("BP256R1" or "ES256"))
            {
                errors.Add($"{S}:Vzd:Algorithms: '{algorithm}' is not BP256R1 or ES256");
            }
        }

        for (var i = 0; i < vzd.TrustAnchors.Count; i++)
        {
            ConfigurationChecks.CheckFileExists(errors, $"{S}:Vzd:TrustAnchors:{i}", vzd.TrustAnchors[i]);
        }

        if (!string.IsNullOrEmpty(vzd.FederationListUrl))
        {
            if (!Uri.TryCreate(vzd.FederationListUrl, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttps && uri.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"{S}:Vzd:FederationListUrl must be an absolute http(s) URL (got '{vzd.FederationListUrl}')");
            }

            if (vzd.TrustAnchors.Count == 0)
            {
                errors.Add($"{S}:Vzd:FederationListUrl is set but {S}:Vzd:TrustAnchors is empty; no list could ever be verified");
            }
        }

        if (vzd.PollInterval < TimeSpan.FromSeconds(1) || vzd.RequestTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:Vzd:PollInterval must be at least 1 s and {S}:Vzd:RequestTimeout positive");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
