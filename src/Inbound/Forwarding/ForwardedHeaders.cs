using System.Collections.Frozen;
using System.Net;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Inbound.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Transforms;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>
/// Sets X-Forwarded-For/-Proto/-Host for the homeserver (Synapse reads them with <c>x_forwarded: true</c>), with
/// YARP's X-Forwarded transforms. A client could otherwise claim any address, so forwarding headers from
/// untrusted peers are discarded and replaced; only peers in <see cref="InboundOptions.TrustedProxies"/> may
/// contribute to the chain (For appended to, Proto and Host kept when they sent them).
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

    // Set replaces whatever the client sent; Append extends a trusted proxy's chain. The transforms hold no state.
    private readonly RequestTransform _setFor = new RequestHeaderXForwardedForTransform(ForwardedFor, ForwardedTransformActions.Set);
    private readonly RequestTransform _appendFor = new RequestHeaderXForwardedForTransform(ForwardedFor, ForwardedTransformActions.Append);
    private readonly RequestTransform _setProto = new RequestHeaderXForwardedProtoTransform(ForwardedProto, ForwardedTransformActions.Set);
    private readonly RequestTransform _setHost = new RequestHeaderXForwardedHostTransform(ForwardedHost, ForwardedTransformActions.Set);

    public ForwardedHeaders(IOptions<InboundOptions> options)
    {
        _trusted = options.Value.TrustedProxies
            .Select(t => ConfigurationChecks.TryParseNetwork(t, out var network) ? network : throw new FormatException(t))
            .ToArray();
    }

    /// <param name="headersCopied">
    /// Whether <paramref name="proxyRequest"/> already carries the client's headers (a forwarded request) or not (a
    /// request the proxy makes on the client's behalf).
    /// </param>
    public async ValueTask ApplyAsync(HttpContext context, HttpRequestMessage proxyRequest, bool headersCopied, CancellationToken cancellationToken)
    {
        // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; the homeserver should see the address they have.
        var remote = context.Connection.RemoteIpAddress;
        if (remote is { IsIPv4MappedToIPv6: true })
        {
            remote = remote.MapToIPv4();
            context.Connection.RemoteIpAddress = remote;
        }

        var trusted = remote is not null && IsTrusted(remote);
        if (headersCopied)
        {
            RemoveOwnedHeaders(proxyRequest, trusted);
        }

        var transform = new RequestTransformContext
        {
            HttpContext = context,
            ProxyRequest = proxyRequest,
            HeadersCopied = headersCopied,
            Path = context.Request.Path,
            DestinationPrefix = string.Empty,
            CancellationToken = cancellationToken,
        };

        // YARP's transforms complete synchronously, so this method allocates no state machine.
        var incoming = context.Request.Headers;
        await (trusted ? _appendFor : _setFor).ApplyAsync(transform);
        if (!trusted || !incoming.ContainsKey(ForwardedProto))
        {
            await _setProto.ApplyAsync(transform);
        }

        if ((!trusted || !incoming.ContainsKey(ForwardedHost)) && incoming.Host.Count > 0)
        {
            await _setHost.ApplyAsync(transform);
        }
    }

    /// <summary>
    /// Drops the client headers the proxy owns from the copied request. The copy is walked with its struct
    /// enumerator (the request's own header dictionary would build a key set per request); a list is made only
    /// when there is something to drop.
    /// </summary>
    private static void RemoveOwnedHeaders(HttpRequestMessage proxyRequest, bool trusted)
    {
        List<string>? owned = null;
        foreach (var header in proxyRequest.Headers.NonValidated)
        {
            if (IsOwnedByProxy(header.Key, trusted))
            {
                (owned ??= []).Add(header.Key);
            }
        }

        if (owned is not null)
        {
            foreach (var name in owned)
            {
                proxyRequest.Headers.Remove(name);
            }
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
            // The chain of a trusted proxy is kept and extended; only underscore twins are dropped.
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
