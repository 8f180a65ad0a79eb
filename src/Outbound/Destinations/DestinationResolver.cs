using System.Net;
using System.Net.Sockets;
using MessengerProxy.Outbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Destinations;

/// <summary>Why a destination's addresses cannot be used.</summary>
internal enum ResolveFailure
{
    None,
    NotFound,
    TimedOut,

    /// <summary>The name resolves, but only to addresses the proxy must not connect to.</summary>
    Forbidden,
}

/// <summary>
/// Resolves destination names (configured fixed addresses first, then DNS, bounded in time) and keeps only
/// the addresses <see cref="AddressRules"/> allows. The upstream connection uses this too, at connect
/// time, so the address checked is the address connected to (no DNS rebinding between check and use).
/// </summary>
internal sealed class DestinationResolver
{
    private readonly AddressRules _rules;
    private readonly Dictionary<string, IPAddress[]> _fixed;
    private readonly TimeSpan _timeout;

    public DestinationResolver(IOptions<OutboundOptions> options)
    {
        var settings = options.Value;
        _rules = new AddressRules(settings.ParsedAllowedNetworks());
        _fixed = new Dictionary<string, IPAddress[]>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, addresses) in settings.HostAddresses)
        {
            _fixed[name] = addresses.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries).Select(IPAddress.Parse).ToArray();
        }

        _timeout = settings.DnsTimeout;
    }

    /// <summary>
    /// Judges a host by what is known without asking DNS: an address literal, a configured fixed address, or
    /// <c>localhost</c> (which RFC 6761 §6.3 reserves for loopback). Null when only DNS could tell.
    /// </summary>
    public ResolveFailure? JudgeWithoutDns(string host)
    {
        IPAddress[] candidates;
        if (IPAddress.TryParse(host, out var literal))
        {
            candidates = [literal];
        }
        else if (_fixed.TryGetValue(host, out var configured))
        {
            candidates = configured;
        }
        else if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase))
        {
            candidates = [IPAddress.Loopback, IPAddress.IPv6Loopback];
        }
        else
        {
            return null;
        }

        return candidates.Length == 0 ? ResolveFailure.NotFound : Array.Exists(candidates, _rules.IsAllowed) ? ResolveFailure.None : ResolveFailure.Forbidden;
    }

    public async ValueTask<(IPAddress[] Addresses, ResolveFailure Failure)> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        IPAddress[] candidates;
        if (IPAddress.TryParse(host, out var literal))
        {
            candidates = [literal];
        }
        else if (_fixed.TryGetValue(host, out var configured))
        {
            candidates = configured;
        }
        else
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_timeout);
            try
            {
                candidates = await Dns.GetHostAddressesAsync(host, timeout.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return ([], ResolveFailure.TimedOut);
            }
            catch (SocketException)
            {
                return ([], ResolveFailure.NotFound);
            }
        }

        if (candidates.Length == 0)
        {
            return ([], ResolveFailure.NotFound);
        }

        var allowed = Array.FindAll(candidates, _rules.IsAllowed);
        return allowed.Length == 0 ? ([], ResolveFailure.Forbidden) : (allowed, ResolveFailure.None);
    }
}
