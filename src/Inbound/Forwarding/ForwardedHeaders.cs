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

        if (remote is not null && IsTrusted(remote))
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

        foreach (var name in incoming.Keys)
        {
            if (name.StartsWith("X-Forwarded-", StringComparison.OrdinalIgnoreCase)
                || name.Equals("Forwarded", StringComparison.OrdinalIgnoreCase)
                || name.Equals("X-Real-IP", StringComparison.OrdinalIgnoreCase))
            {
                headers.Remove(name);
            }
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
