using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Configuration;

/// <summary>Start-up validation: every message names the key, what is wrong and the value found.</summary>
internal sealed class InboundOptionsValidator : IValidateOptions<InboundOptions>
{
    public ValidateOptionsResult Validate(string? name, InboundOptions options)
    {
        var errors = new OptionsErrors(InboundOptions.SectionName);
        const string S = InboundOptions.SectionName;

        if (string.IsNullOrWhiteSpace(options.HomeserverUrl))
        {
            errors.Add($"{S}:HomeserverUrl is required (e.g. --{S}:HomeserverUrl=http://synapse:8008)");
        }
        else if (!ConfigurationChecks.TryParseHttpBaseUrl(options.HomeserverUrl, out _, out var why))
        {
            errors.Add($"{S}:HomeserverUrl {why} (got '{options.HomeserverUrl}')");
        }

        errors.HttpBaseUrl(options.PublicBaseUrl, allowPath: true);

        CheckListeners(errors, options);

        for (var i = 0; i < options.TrustedProxies.Count; i++)
        {
            if (!ConfigurationChecks.TryParseNetwork(options.TrustedProxies[i], out _))
            {
                errors.Add($"{S}:TrustedProxies:{i} is not an IP address or CIDR network (got '{options.TrustedProxies[i]}')");
            }
        }

        errors.Positive(options.MaxJsonBodyBytes);
        errors.Positive(options.MaxUploadBodyBytes);
        errors.Positive(options.UpstreamConnectTimeout);
        errors.Positive(options.UpstreamTimeout);
        InboundEndpoints.TryBuildTable(options, errors.Messages);

        return errors.Result;
    }

    /// <summary>
    /// The single-listener keys or <c>Inbound:Listeners</c>, never both (which one would win is not obvious);
    /// then each listener's port, address, TLS files and APIs. Clashing ports are the health validator's,
    /// which sees every listener of the process.
    /// </summary>
    private static void CheckListeners(OptionsErrors errors, InboundOptions options)
    {
        const string S = InboundOptions.SectionName;
        if (options.Listeners.Count > 0 && options.ExplicitSingleListenerKeys.Count > 0)
        {
            errors.Add($"{string.Join(", ", options.ExplicitSingleListenerKeys)} cannot be combined with {S}:Listeners: "
                + $"configure either one listener with {S}:Port, {S}:BindAddress, {S}:TlsCertificatePath and {S}:TlsKeyPath, "
                + $"or every listener under {S}:Listeners:N");
            return;
        }

        for (var i = 0; i < options.Listeners.Count; i++)
        {
            var key = $"{S}:{nameof(InboundOptions.Listeners)}:{i}";
            var listener = options.Listeners[i];
            if (listener.Port is not { } port)
            {
                errors.Add($"{key}:Port is required");
            }
            else
            {
                errors.PortAt($"{key}:Port", port);
            }

            errors.BindAddressAt($"{key}:BindAddress", listener.BindAddress);
            CheckTls(errors, key, listener.TlsCertificatePath, listener.TlsKeyPath);
            if (!InboundListener.TryParseApis(listener.Apis, out _, out var unknown))
            {
                errors.Add(unknown is null
                    ? $"{key}:Apis must be 'client', 'federation' or both, comma-separated (got '{listener.Apis}')"
                    : $"{key}:Apis must be 'client', 'federation' or both, comma-separated (got '{listener.Apis}': '{unknown}' is unknown)");
            }
        }

        if (options.Listeners.Count == 0)
        {
            errors.Port(options.Port);
            errors.BindAddress(options.BindAddress);
            CheckTls(errors, S, options.TlsCertificatePath, options.TlsKeyPath);
        }
    }

    private static void CheckTls(OptionsErrors errors, string key, string? certificatePath, string? keyPath)
    {
        var hasCert = !string.IsNullOrEmpty(certificatePath);
        var hasKey = !string.IsNullOrEmpty(keyPath);
        if (hasCert != hasKey)
        {
            errors.Add($"{key}:TlsCertificatePath and {key}:TlsKeyPath must be set together");
        }
        else if (hasCert)
        {
            errors.FileExistsAt($"{key}:TlsCertificatePath", certificatePath!);
            errors.FileExistsAt($"{key}:TlsKeyPath", keyPath!);
        }
    }
}

internal sealed class WellKnownOptionsValidator : IValidateOptions<WellKnownOptions>
{
    public ValidateOptionsResult Validate(string? name, WellKnownOptions options)
    {
        var errors = new OptionsErrors(WellKnownOptions.SectionName);
        const string S = WellKnownOptions.SectionName;

        if (!string.IsNullOrEmpty(options.Server) && !ServerNames.TryGetHost(options.Server, out _))
        {
            errors.Add($"{S}:Server must be a host name with optional port, like matrix.example.org:443 (got '{options.Server}')");
        }

        errors.HttpBaseUrl(options.ClientBaseUrl, allowPath: true);
        errors.HttpBaseUrl(options.IdentityServerBaseUrl, allowPath: true);
        errors.HttpBaseUrl(options.SupportUrl, allowPath: true);
        errors.Positive(options.SupportTimeout);

        return errors.Result;
    }
}

internal sealed class TimOptionsValidator : IValidateOptions<TimOptions>
{
    public ValidateOptionsResult Validate(string? name, TimOptions options)
    {
        var errors = new OptionsErrors(TimOptions.SectionName);
        const string S = TimOptions.SectionName;

        // An unknown name is most likely a typo that would leave a rule on that the operator meant to switch off.
        var ids = MessengerProxy.Policy.Endpoints.TimOverrideTable.Load().Select(o => o.Id).ToList();
        CheckNames(errors, $"{S}:Overrides:Disabled", options.Overrides.Disabled, ids);
        CheckNames(errors, $"{S}:Rules:Disabled", options.Rules.Disabled, MessengerProxy.Policy.Endpoints.TimRules.All.Select(r => r.Name).ToList());

        var allowed = options.RoomVersions.EffectiveAllowed;
        for (var i = 0; i < options.RoomVersions.Allowed.Count; i++)
        {
            if (!IsRoomVersion(options.RoomVersions.Allowed[i]))
            {
                errors.Add($"{S}:RoomVersions:Allowed:{i} is not a room version (1-32 characters of a-z, 0-9, '.', '-'; got '{options.RoomVersions.Allowed[i]}')");
            }
        }

        if (!allowed.Contains(options.RoomVersions.Default, StringComparer.Ordinal))
        {
            errors.Add($"{S}:RoomVersions:Default must be one of the allowed versions {string.Join(", ", allowed)} (got '{options.RoomVersions.Default}')");
        }

        errors.Positive(options.RedactionWindow);
        errors.Positive(options.MaxStatusMessageLength);

        return errors.Result;
    }

    private static void CheckNames(OptionsErrors errors, string key, List<string> names, List<string> known)
    {
        for (var i = 0; i < names.Count; i++)
        {
            if (!known.Contains(names[i], StringComparer.Ordinal))
            {
                errors.Add($"{key}:{i} '{names[i]}' is not one of {string.Join(", ", known)}");
            }
        }
    }

    // The spec's grammar for room versions (identifiers of 1-32 code points from [a-z0-9.-]).
    private static bool IsRoomVersion(string value) =>
        value.Length is > 0 and <= 32 && value.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '.' or '-');
}
