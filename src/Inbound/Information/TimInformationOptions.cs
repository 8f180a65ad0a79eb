using MessengerProxy.Hosting.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Information;

/// <summary>The TI-M information API (TiMessengerInformation 1.0.0; configuration section <c>TimInformation</c>).</summary>
internal sealed class TimInformationOptions
{
    public const string SectionName = "TimInformation";

    /// <summary>On by default, like the reference (TI-M Pro clients look insurances up through it).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>The reference's port; its own listener, so the public proxy ports never serve this API.</summary>
    public int Port { get; set; } = 7777;

    public string BindAddress { get; set; } = "*";

    /// <summary><c>title</c> of <c>GET /tim-information</c>.</summary>
    public string Title { get; set; } = "Contact Information API des TI-Messengers";

    /// <summary>Optional <c>description</c> (the operator's name, say); omitted when empty.</summary>
    public string Description { get; set; } = string.Empty;

    /// <summary>Optional <c>contact</c> of the operator; omitted when empty.</summary>
    public string Contact { get; set; } = string.Empty;

    /// <summary>
    /// How long a token the homeserver confirmed is trusted without asking again. Short: a revoked token (logout
    /// does not revoke OpenID tokens, but their lifetime ends) stays usable here at most this long.
    /// </summary>
    public TimeSpan TokenCacheTtl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Confirmed tokens kept at most; beyond it new ones are validated on every request until entries expire.</summary>
    public int MaxCachedTokens { get; set; } = 10_000;

    /// <summary>Timeout of one <c>/_matrix/federation/v1/openid/userinfo</c> request.</summary>
    public TimeSpan UserInfoTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

internal sealed class TimInformationOptionsValidator : IValidateOptions<TimInformationOptions>
{
    public ValidateOptionsResult Validate(string? name, TimInformationOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new OptionsErrors(TimInformationOptions.SectionName);
        errors.Port(options.Port);
        errors.BindAddress(options.BindAddress);
        if (string.IsNullOrWhiteSpace(options.Title))
        {
            errors.Add($"{errors.Section}:Title must not be empty (the API requires a title)");
        }

        errors.Positive(options.TokenCacheTtl);
        errors.Positive(options.UserInfoTimeout);
        if (options.MaxCachedTokens < 0)
        {
            errors.Add($"{errors.Section}:MaxCachedTokens must not be negative (got {options.MaxCachedTokens})");
        }

        return errors.Result;
    }
}
