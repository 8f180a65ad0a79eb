using System.Collections.Frozen;
using System.Net;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Inbound.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>
/// Sets X-Forwarded-For/-Proto/-Host for the homeserver (Synapse reads them with <c>x_forwarded: true</c>).
/// A client could otherwise claim any address, so forwarding headers from untrusted peers are discarded
/// and replaced; only peers in <see cref="InboundOptions.TrustedProxies"/> may contribute to the chain.
/// </summary>
internal sealed class ForwardedHeaders
{
    private const string ForwardedFor = "X-Forwarded-For";
    private const string ForwardedProto = "X-Forwarded-Proto";
    private const string ForwardedHost = "X-Forwarded-Host";

    // Headers through which clients, CDNs or rewriting front ends name a client address or the original URL.
    // The proxy owns these for the homeserver; from an untrusted client every one is a forgery. The URL-override
    // headers are dropped even from trusted proxies, since the proxy checked the target it forwards, not those.
    private static readonly FrozenSet<string> s_clientAddressHeaders = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase,
        "Forwarded", "X-Real-IP", "True-Client-IP", "X-Client-IP", "CF-Connecting-IP", "Fastly-Client-IP",
        "X-Cluster-Client-IP", "X-ProxyUser-IP", "Client-IP", "X-Originating-IP", "X-Remote-IP", "X-Remote-Addr");

    private static readonly FrozenSet<string> s_urlOverrideHeaders = FrozenSet.Create(
        StringComparer.OrdinalIgnoreCase, "X-Original-URL", "X-Rewrite-URL", "X-Original-URI", "X-Forwarded-Prefix");

    private readonly IPNetwork[] _trusted;

    public ForwardedHeaders(IOptions<InboundOptions> options)
    {
        _trusted = options.Value.TrustedProxies
            .Select(t => ConfigurationChecks.TryParseNetwork(t, out var network) ? network : throw new FormatException(t))
            .ToArray();
    }

    public void Apply(HttpContext context, HttpRequestMessage proxyRequest)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is { IsIPv4MappedToIPv6: true })
        {
            remote = remote.MapToIPv4();
        }

        var headers = proxyRequest.Headers;
        var incoming = context.Request.Headers;
        var remoteText = remote?.ToString();

        var trusted = remote is not null && IsTrusted(remote);
        foreach (var name in incoming.Keys)
        {
            if (IsOwnedByProxy(name, trusted))
            {
                headers.Remove(name);
            }
        }

        if (trusted)
        {
            var chain = incoming[ForwardedFor].ToString();
            headers.Remove(ForwardedFor);
            if (remoteText is not null)
            {
                headers.TryAddWithoutValidation(ForwardedFor, chain.Length == 0 ? remoteText : chain + ", " + remoteText);
            }

            if (!incoming.ContainsKey(ForwardedProto))
            {
                headers.TryAddWithoutValidation(ForwardedProto, context.Request.Scheme);
            }

            if (!incoming.ContainsKey(ForwardedHost) && context.Request.Headers.Host.Count > 0)
            {
                headers.TryAddWithoutValidation(ForwardedHost, context.Request.Headers.Host.ToString());
            }

            return;
        }

        if (remoteText is not null)
        {
            headers.TryAddWithoutValidation(ForwardedFor, remoteText);
        }

        headers.TryAddWithoutValidation(ForwardedProto, context.Request.Scheme);
        if (context.Request.Headers.Host.Count > 0)
        {
            headers.TryAddWithoutValidation(ForwardedHost, context.Request.Headers.Host.ToString());
        }
    }

    /// <summary>
    /// Whether a client header is one the proxy drops. Underscores count as dashes: servers such as Twisted,
    /// gunicorn or anything reading CGI-style variables see <c>X_Forwarded_For</c> as <c>X-Forwarded-For</c>.
    /// </summary>
    private static bool IsOwnedByProxy(string name, bool fromTrustedProxy)
    {
        var normalised = name.Contains('_') ? name.Replace('_', '-') : name;
        if (s_urlOverrideHeaders.Contains(normalised))
        {
            return true;
        }

        if (fromTrustedProxy)
        {
            // The chain of a trusted proxy is kept and extended (below); only underscore twins are dropped.
            return !ReferenceEquals(normalised, name) && IsClientAddressHeader(normalised);
        }

        return IsClientAddressHeader(normalised);
    }

    private static bool IsClientAddressHeader(string name) =>
        name.StartsWith("X-Forwarded", StringComparison.OrdinalIgnoreCase) || s_clientAddressHeaders.Contains(name);

    private bool IsTrusted(IPAddress address)
    {
        foreach (var network in _trusted)
        {
            if (network.Contains(address))
            {
                return true;
            }
        }

        return false;
    }
}
