using System.Net;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Outbound.Forwarding;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Configuration;

/// <summary>Refuses settings that would make the outbound proxy unsafe or useless, naming the key.</summary>
internal sealed class OutboundOptionsValidator : IValidateOptions<OutboundOptions>
{
    public ValidateOptionsResult Validate(string? name, OutboundOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var errors = new OptionsErrors(OutboundOptions.SectionName);
        const string S = OutboundOptions.SectionName;
        errors.Port(options.Port);
        errors.BindAddress(options.BindAddress);

        if (string.IsNullOrWhiteSpace(options.CaCertificatePath) || string.IsNullOrWhiteSpace(options.CaKeyPath))
        {
            errors.Add($"{S}:CaCertificatePath and {S}:CaKeyPath are required (create a CA with certificates/create-ca.sh, or set {S}:Enabled=false)");
        }
        else
        {
            errors.FileExists(options.CaCertificatePath);
            errors.FileExists(options.CaKeyPath);
        }

        if (string.IsNullOrEmpty(options.ProxyUser) != string.IsNullOrEmpty(options.ProxyPassword))
        {
            errors.Add($"{S}:ProxyUser and {S}:ProxyPassword must be set together");
        }
        else if (options.ProxyUser?.Contains(':') == true)
        {
            errors.Add($"{S}:ProxyUser must not contain ':' (Basic authentication separates user and password with it)");
        }

        for (var i = 0; i < options.TrustedCaPaths.Count; i++)
        {
            errors.FileExistsAt($"{S}:TrustedCaPaths:{i}", options.TrustedCaPaths[i]);
        }

        if (options.AllowedPorts.Any(p => p is <= 0 or > 65535))
        {
            errors.Add($"{S}:AllowedPorts must list ports 1..65535 (got [{string.Join(", ", options.AllowedPorts)}])");
        }

        for (var i = 0; i < options.ExtraHosts.Count; i++)
        {
            if (OutboundOptions.SplitHostPort(options.ExtraHosts[i]).Port == -1)
            {
                errors.Add($"{S}:ExtraHosts:{i} must be host or host:port (got '{options.ExtraHosts[i]}')");
            }
        }

        for (var i = 0; i < options.AllowedNetworks.Count; i++)
        {
            if (!ConfigurationChecks.TryParseNetwork(options.AllowedNetworks[i], out _))
            {
                errors.Add($"{S}:AllowedNetworks:{i} must be an address or CIDR network (got '{options.AllowedNetworks[i]}')");
            }
        }

        foreach (var (host, addresses) in options.HostAddresses)
        {
            var parts = (addresses ?? string.Empty).Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || parts.Any(a => !IPAddress.TryParse(a, out _)))
            {
                errors.Add($"{S}:HostAddresses:{host} must be one or more IP addresses, comma-separated (got '{addresses}')");
            }
        }

        foreach (var (serverName, host) in options.Delegations)
        {
            if (!ServerNames.TryGetHost(serverName, out _) || !ServerNames.TryGetHost(host ?? string.Empty, out var bare) || bare.Length != host!.Length)
            {
                errors.Add($"{S}:Delegations:{serverName} must map a server name to a host name without port (got '{host}')");
            }
        }

        errors.Positive(options.LeafValidity);
        errors.Positive(options.RequestHeadTimeout);
        errors.Positive(options.HandshakeTimeout);
        errors.Positive(options.DnsTimeout);
        errors.Positive(options.UpstreamConnectTimeout);
        errors.Positive(options.UpstreamTimeout);
        errors.Positive(options.DelegationLifetime);
        errors.Positive(options.RelayIdleTimeout);
        errors.Positive(options.UnlistedCertificateMintPeriod);
        if (options.LeafValidity > TimeSpan.FromDays(397))
        {
            errors.Add($"{S}:LeafValidity must be at most 397 days (got {options.LeafValidity})");
        }

        errors.Positive(options.MaxCachedCertificates);
        errors.Positive(options.MaxRequestHeadBytes);
        errors.Positive(options.MaxConnections);
        errors.Positive(options.MaxRequestBodyBytes);
        errors.Positive(options.UnlistedCertificateMints);
        errors.Positive(options.MaxCachedUnlistedCertificates);

        OutboundEndpointsBuilder.TryBuild(options, errors.Messages);
        return errors.Result;
    }
}
