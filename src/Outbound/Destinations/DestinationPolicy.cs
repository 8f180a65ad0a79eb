using System.Net;
using MessengerProxy.Federation;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Destinations;

/// <summary>What a tunnel (or a plain proxied request) may be used for.</summary>
internal enum DestinationKind
{
    /// <summary>A federation peer: server-server endpoints only, X-Matrix destination checked.</summary>
    Federation,

    /// <summary>A configured non-federation host (push gateway, SSO provider): any path, no X-Matrix checks.</summary>
    Extra,
}

/// <summary>An authorised destination, decided before any byte is sent to it.</summary>
/// <param name="ServerNames">Server names that delegate to <paramref name="Host"/>.</param>
/// <param name="OnlyAsDelegate">
/// The host is allowed only because listed servers delegate to it: it is not a server of its own, so requests
/// must be addressed to one of <paramref name="ServerNames"/>.
/// </param>
internal sealed record Destination(string Host, int Port, bool Tls, DestinationKind Kind, IReadOnlyList<string> ServerNames, bool OnlyAsDelegate = false)
{
    /// <summary><c>https://host:port</c>, with IPv6 hosts in brackets.</summary>
    public string Origin { get; } = $"{(Tls ? "https" : "http")}://{(Host.Contains(':') ? $"[{Host}]" : Host)}:{Port}";

    /// <summary>Whether requests in this tunnel may be addressed to <paramref name="serverNameHost"/> (X-Matrix destination, Host, media server).</summary>
    public bool Serves(ReadOnlySpan<char> serverNameHost)
    {
        if (!OnlyAsDelegate && IsHost(serverNameHost))
        {
            return true;
        }

        foreach (var name in ServerNames)
        {
            if (serverNameHost.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether <paramref name="name"/> is the tunnel's host itself.</summary>
    public bool IsHost(ReadOnlySpan<char> name) => name.Equals(Host, StringComparison.OrdinalIgnoreCase);
}

/// <summary>A refusal of a destination: the answer for the homeserver and the reason for the log.</summary>
/// <param name="InsideTunnel">
/// The refusal is the federation list's verdict alone (<see cref="OutboundOptions.RefuseUnlistedInsideTunnel"/>):
/// the CONNECT may be accepted and every request inside answered with <paramref name="Error"/>, since nothing
/// will ever be connected to the host.
/// </param>
internal sealed record DestinationRefusal(MatrixError Error, string Reason, bool InsideTunnel = false);

/// <summary>
/// Decides whether the proxy may open a connection to a host and port: federation peers in the federation
/// list (directly or by delegation), configured extra hosts, on allowed ports, resolving only to addresses
/// outside the operator's own networks.
/// </summary>
internal sealed class DestinationPolicy
{
    private readonly FederationListCache _federation;
    private readonly DelegationTable _delegations;
    private readonly DestinationResolver _resolver;
    private readonly HashSet<int> _ports;
    private readonly Dictionary<string, ExtraHost> _extraHosts;
    private readonly bool _refuseInside;

    public DestinationPolicy(IOptions<OutboundOptions> options, FederationListCache federation, DelegationTable delegations, DestinationResolver resolver)
    {
        var settings = options.Value;
        _federation = federation;
        _delegations = delegations;
        _resolver = resolver;
        _ports = [.. settings.EffectivePorts];
        _refuseInside = settings.RefuseUnlistedInsideTunnel;
        _extraHosts = new Dictionary<string, ExtraHost>(StringComparer.OrdinalIgnoreCase);
        foreach (var entry in settings.ExtraHosts)
        {
            var (host, port) = OutboundOptions.SplitHostPort(entry);
            if (!_extraHosts.TryGetValue(host, out var extra))
            {
                _extraHosts[host] = extra = new ExtraHost();
            }

            if (port is { } p)
            {
                extra.Ports.Add(p);
            }
            else
            {
                extra.AnyAllowedPort = true;
            }
        }
    }

    /// <param name="host">Host without brackets or port.</param>
    /// <param name="tls">False for plain <c>http://</c> requests, which only configured <c>host:port</c> extra hosts allow.</param>
    public async ValueTask<(Destination? Destination, DestinationRefusal? Refusal)> AuthorizeAsync(string host, int port, bool tls, CancellationToken cancellationToken)
    {
        var normalized = ServerName.NormalizeHost(host);
        Destination? destination = null;
        if (_extraHosts.TryGetValue(normalized, out var extra) && (extra.Ports.Contains(port) || (tls && extra.AnyAllowedPort && _ports.Contains(port))))
        {
            destination = new Destination(normalized, port, tls, DestinationKind.Extra, []);
        }
        else if (!tls)
        {
            return Refuse(403, $"Plain http:// to {normalized}:{port} is not allowed; federation uses https", "plain http to a host that is not configured for it");
        }
        else if (!_ports.Contains(port))
        {
            return Refuse(403, $"Port {port} is not an allowed destination port", "port not allowed");
        }
        else
        {
            var check = await _federation.CheckAsync(normalized, cancellationToken);
            if (check.Verdict == FederationVerdict.Allowed)
            {
                destination = new Destination(normalized, port, tls, DestinationKind.Federation, _delegations.ServerNamesFor(normalized));
            }
            else if (check.Verdict == FederationVerdict.InvalidServerName)
            {
                return Refuse(400, $"'{FederationErrors.Excerpt(host)}' is not a valid host name", "invalid host");
            }
            else
            {
                var delegators = _delegations.ServerNamesFor(normalized).Where(n => _federation.Check(n).Verdict == FederationVerdict.Allowed).ToList();
                if (delegators.Count == 0)
                {
                    if (!_refuseInside)
                    {
                        return (null, FederationRefusal(check, normalized, insideTunnel: false));
                    }

                    // Nothing will be connected, so the name is never resolved: no DNS query tells anyone whom the
                    // homeserver tried to reach, and a made-up name costs no lookup. What is known without DNS
                    // (address literals, HostAddresses, localhost) still refuses an internal address at the CONNECT.
                    return _resolver.JudgeWithoutDns(normalized) == ResolveFailure.Forbidden
                        ? InternalAddress(normalized)
                        : (null, FederationRefusal(check, normalized, insideTunnel: true));
                }

                destination = new Destination(normalized, port, tls, DestinationKind.Federation, delegators, OnlyAsDelegate: true);
            }
        }

        var (_, failure) = await _resolver.ResolveAsync(normalized, cancellationToken);
        return failure switch
        {
            ResolveFailure.None => (destination, null),
            ResolveFailure.Forbidden => InternalAddress(normalized),
            ResolveFailure.TimedOut => Refuse(504, $"Resolving {normalized} timed out", "DNS timeout", MatrixErrorCode.Unknown),
            _ => Refuse(502, $"{normalized} cannot be resolved", "DNS: no such host", MatrixErrorCode.Unknown),
        };
    }

    /// <summary>
    /// What a tunnel refused inside answers now: the list may have been refreshed since the CONNECT. Null once
    /// the host is listed, or delegated to by a listed server; the tunnel is then stale (it was never checked
    /// for forwarding) and must be reopened.
    /// </summary>
    public DestinationRefusal? RefusalInsideNow(string host)
    {
        var check = _federation.Check(host);
        if (check.Verdict == FederationVerdict.Allowed || _delegations.ServerNamesFor(host).Any(n => _federation.Check(n).Verdict == FederationVerdict.Allowed))
        {
            return null;
        }

        return FederationRefusal(check, host, insideTunnel: true);
    }

    private static DestinationRefusal FederationRefusal(FederationCheck check, string host, bool insideTunnel) =>
        new(FederationErrors.For(check, host, "host")!, check.Verdict == FederationVerdict.ListUnavailable ? "federation list unavailable" : "host not in the federation list", insideTunnel);

    private static (Destination?, DestinationRefusal?) InternalAddress(string host) =>
        Refuse(403, $"{host} resolves only to addresses the proxy must not connect to", "internal address");

    private static (Destination?, DestinationRefusal?) Refuse(int status, string message, string reason, string errorCode = MatrixErrorCode.Forbidden) =>
        (null, new DestinationRefusal(new MatrixError(status, status == 400 ? MatrixErrorCode.Unknown : errorCode, message), reason));

    private sealed class ExtraHost
    {
        public HashSet<int> Ports { get; } = [];

        public bool AnyAllowedPort { get; set; }
    }
}
