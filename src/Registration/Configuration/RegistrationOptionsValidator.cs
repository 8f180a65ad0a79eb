using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Registration.Vzd;
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
        ValidateAuthentication(errors, options);
        errors.HttpBaseUrl(options.Vzd.Ocsp.ResponderUrl, allowPath: true);
        errors.Positive(options.Vzd.Ocsp.Timeout);
        errors.Positive(options.Vzd.Ocsp.MaxResponseBytes);
        return errors.Result;
    }

    // Messages name keys and files, never a secret's value.
    private static void ValidateAuthentication(OptionsErrors errors, RegistrationOptions options)
    {
        const string S = RegistrationOptions.SectionName;
        var vzd = options.Vzd;
        var secretGiven = !string.IsNullOrEmpty(vzd.ClientSecret);
        var secretFileGiven = !string.IsNullOrEmpty(vzd.ClientSecretFile);
        if (!vzd.UsesClientCredentials)
        {
            if (secretGiven || secretFileGiven || !string.IsNullOrEmpty(vzd.TokenUrl) || !string.IsNullOrEmpty(vzd.ServiceUrl))
            {
                errors.Add($"{S}:Vzd:ClientId is required when {S}:Vzd:ClientSecret, ClientSecretFile, TokenUrl or ServiceUrl is set");
            }

            return;
        }

        if (!string.IsNullOrEmpty(vzd.BearerToken))
        {
            errors.Add($"{S}:Vzd:BearerToken (legacy static token) and {S}:Vzd:ClientId exclude each other; remove the static token");
        }

        if (string.IsNullOrEmpty(vzd.FederationListUrl))
        {
            errors.Add($"{S}:Vzd:ClientId is set but {S}:Vzd:FederationListUrl is empty; nothing would use the credentials");
        }
        else
        {
            SecureUrl(errors, $"{S}:Vzd:FederationListUrl", vzd.FederationListUrl);
        }

        if (secretGiven == secretFileGiven)
        {
            errors.Add($"{S}:Vzd:ClientId needs exactly one of {S}:Vzd:ClientSecret and {S}:Vzd:ClientSecretFile (got {(secretGiven ? "both" : "neither")})");
        }
        else if (secretFileGiven)
        {
            errors.FileExistsAt($"{S}:Vzd:ClientSecretFile", vzd.ClientSecretFile!);
            if (File.Exists(vzd.ClientSecretFile) && !VzdClientSecret.TryRead(vzd, out _, out var why))
            {
                errors.Add($"{S}:Vzd:ClientSecretFile: {why}");
            }
        }
        else if (string.IsNullOrWhiteSpace(vzd.ClientSecret))
        {
            errors.Add($"{S}:Vzd:ClientSecret is only white space");
        }

        RequiredSecureBaseUrl(errors, $"{S}:Vzd:TokenUrl", vzd.TokenUrl);
        RequiredSecureBaseUrl(errors, $"{S}:Vzd:ServiceUrl", vzd.ServiceUrl);
        if (!vzd.TokenPath.StartsWith('/') || vzd.TokenPath.Contains('?') || vzd.TokenPath.Contains('#'))
        {
            errors.Add($"{S}:Vzd:TokenPath must start with '/' and hold neither query nor fragment (got '{vzd.TokenPath}')");
        }

        if (vzd.TokenRefreshMargin < TimeSpan.Zero)
        {
            errors.Add($"{S}:Vzd:TokenRefreshMargin must not be negative (got {vzd.TokenRefreshMargin})");
        }
    }

    private static void RequiredSecureBaseUrl(OptionsErrors errors, string key, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            errors.Add($"{key} is required when {RegistrationOptions.SectionName}:Vzd:ClientId is set");
            return;
        }

        if (!ConfigurationChecks.TryParseHttpBaseUrl(value, out _, out var why, allowPath: true))
        {
            errors.Add($"{key} {why} (got '{value}')");
            return;
        }

        SecureUrl(errors, key, value);
    }

    // Client secrets and VZD tokens travel in clear text over http://; only a loopback stand-in may use it.
    private static void SecureUrl(OptionsErrors errors, string key, string value)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme == Uri.UriSchemeHttp && !uri.IsLoopback)
        {
            errors.Add($"{key} must use https:// when {RegistrationOptions.SectionName}:Vzd:ClientId is set: it carries credentials (http:// only on loopback; got '{value}')");
        }
    }
}
