using System.Net;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Configuration;

/// <summary>Start-up validation: every message names the key, what is wrong and the value found.</summary>
internal sealed class InboundOptionsValidator : IValidateOptions<InboundOptions>
{
    public ValidateOptionsResult Validate(string? name, InboundOptions options)
    {
        var errors = new List<string>();
        const string S = InboundOptions.SectionName;

        if (string.IsNullOrWhiteSpace(options.HomeserverUrl))
        {
            errors.Add($"{S}:HomeserverUrl is required (e.g. --{S}:HomeserverUrl=http://synapse:8008)");
        }
        else if (!ConfigurationChecks.TryParseHttpBaseUrl(options.HomeserverUrl, out _, out var why))
        {
            errors.Add($"{S}:HomeserverUrl {why} (got '{options.HomeserverUrl}')");
        }

        if (!string.IsNullOrEmpty(options.PublicBaseUrl) && !ConfigurationChecks.TryParseHttpBaseUrl(options.PublicBaseUrl, out _, out var whyPublic, allowPath: true))
        {
            errors.Add($"{S}:PublicBaseUrl {whyPublic} (got '{options.PublicBaseUrl}')");
        }

        ListenerAddresses.CheckPort(errors, $"{S}:Port", options.Port);
        ListenerAddresses.Check(errors, $"{S}:BindAddress", options.BindAddress);

        for (var i = 0; i < options.TrustedProxies.Count; i++)
        {
            if (!ConfigurationChecks.TryParseNetwork(options.TrustedProxies[i], out _))
            {
                errors.Add($"{S}:TrustedProxies:{i} is not an IP address or CIDR network (got '{options.TrustedProxies[i]}')");
            }
        }

        if (options.MaxJsonBodyBytes <= 0)
        {
            errors.Add($"{S}:MaxJsonBodyBytes must be positive (got {options.MaxJsonBodyBytes})");
        }

        if (options.MaxUploadBodyBytes <= 0)
        {
            errors.Add($"{S}:MaxUploadBodyBytes must be positive (got {options.MaxUploadBodyBytes})");
        }

        if (options.UpstreamConnectTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:UpstreamConnectTimeout must be positive (got {options.UpstreamConnectTimeout})");
        }

        if (options.UpstreamTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:UpstreamTimeout must be positive (got {options.UpstreamTimeout})");
        }

        var extras = ParseRules(errors, $"{S}:ExtraEndpoints", options.ExtraEndpoints, allowCatchAll: true);
        var denials = ParseRules(errors, $"{S}:DeniedEndpoints", options.DeniedEndpoints, allowCatchAll: false);
        if (extras.Count == options.ExtraEndpoints.Count && denials.Count == options.DeniedEndpoints.Count)
        {
            try
            {
                EndpointTable.LoadMatrixV111().WithOperatorRules(extras, denials);
            }
            catch (ArgumentException ex)
            {
                errors.Add($"{S}: {ex.Message}");
            }
        }

        var hasCert = !string.IsNullOrEmpty(options.TlsCertificatePath);
        var hasKey = !string.IsNullOrEmpty(options.TlsKeyPath);
        if (hasCert != hasKey)
        {
            errors.Add($"{S}:TlsCertificatePath and {S}:TlsKeyPath must be set together");
        }
        else if (hasCert)
        {
            ConfigurationChecks.CheckFileExists(errors, $"{S}:TlsCertificatePath", options.TlsCertificatePath!);
            ConfigurationChecks.CheckFileExists(errors, $"{S}:TlsKeyPath", options.TlsKeyPath!);
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static List<EndpointRule> ParseRules(List<string> errors, string key, List<string> texts, bool allowCatchAll)
    {
        var rules = new List<EndpointRule>();
        for (var i = 0; i < texts.Count; i++)
        {
            if (EndpointRule.TryParse(texts[i], allowCatchAll, out var rule, out var error))
            {
                rules.Add(rule);
            }
            else
            {
                errors.Add($"{key}:{i}: {error}");
            }
        }

        return rules;
    }
}

internal sealed class WellKnownOptionsValidator : IValidateOptions<WellKnownOptions>
{
    public ValidateOptionsResult Validate(string? name, WellKnownOptions options)
    {
        var errors = new List<string>();
        const string S = WellKnownOptions.SectionName;

        if (!string.IsNullOrEmpty(options.Server) && !ConfigurationChecks.IsServerName(options.Server))
        {
            errors.Add($"{S}:Server must be a host name with optional port, like matrix.example.org:443 (got '{options.Server}')");
        }

        foreach (var (key, value) in new[] { ("ClientBaseUrl", options.ClientBaseUrl), ("IdentityServerBaseUrl", options.IdentityServerBaseUrl), ("SupportUrl", options.SupportUrl) })
        {
            if (!string.IsNullOrEmpty(value) && !ConfigurationChecks.TryParseHttpBaseUrl(value, out _, out var why, allowPath: true))
            {
                errors.Add($"{S}:{key} {why} (got '{value}')");
            }
        }

        if (options.SupportTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:SupportTimeout must be positive (got {options.SupportTimeout})");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Checks shared by the validators of every listener's options.</summary>
public static class ConfigurationChecks
{
    public static bool TryParseHttpBaseUrl(string value, out Uri uri, out string why, bool allowPath = false)
    {
        why = string.Empty;
        if (!Uri.TryCreate(value, UriKind.Absolute, out uri!) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            why = "must be an absolute http:// or https:// URL";
            return false;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            why = "must not contain credentials, a query or a fragment";
            return false;
        }

        if (!allowPath && uri.AbsolutePath != "/")
        {
            why = "must not contain a path (Matrix paths start at the root)";
            return false;
        }

        return true;
    }

    public static bool TryParseNetwork(string value, out IPNetwork network)
    {
        if (IPNetwork.TryParse(value, out network))
        {
            return true;
        }

        if (IPAddress.TryParse(value, out var single))
        {
            network = new IPNetwork(single, single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }

    public static void CheckFileExists(List<string> errors, string key, string path)
    {
        if (!File.Exists(path))
        {
            errors.Add($"{key}: file '{path}' does not exist");
        }
    }

    /// <summary>A Matrix server name: DNS name, IPv4 or [IPv6] literal, optional port.</summary>
    public static bool IsServerName(string value)
    {
        var host = value;
        var portStart = value.StartsWith('[') ? value.IndexOf("]:", StringComparison.Ordinal) + 1 : value.LastIndexOf(':');
        if (portStart > 0)
        {
            host = value[..portStart];
            var port = value[(portStart + 1)..];
            if (port.Length is 0 or > 5 || port.AsSpan().ContainsAnyExceptInRange('0', '9') || int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is 0 or > 65535)
            {
                return false;
            }
        }

        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            return IPAddress.TryParse(host[1..^1], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        return Uri.CheckHostName(host) is UriHostNameType.Dns or UriHostNameType.IPv4;
    }
}
