using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace MessengerProxy.Policy.Federation;

/// <summary>
/// A Matrix server name (<c>host[:port]</c>, spec appendix "Server name") in the one normal form every
/// comparison, table key, certificate name and log line uses: the host lower-cased (ASCII only, so the same in
/// every culture: the grammar admits nothing else), IPv6 literals without brackets, the port kept apart.
/// Validation is <see cref="ServerNames.TryGetHostAndPort"/>'s grammar; nothing else is accepted.
/// </summary>
internal readonly record struct ServerName
{
    private ServerName(string host, int? port)
    {
        Host = host;
        Port = port;
    }

    /// <summary>The host, lower-case, without brackets: <c>example.org</c>, <c>192.0.2.1</c>, <c>2001:db8::1</c>.</summary>
    public string Host { get; }

    /// <summary>The explicit port, or null when the server name has none.</summary>
    public int? Port { get; }

    /// <summary>True when <see cref="Host"/> is an IPv6 literal (written in brackets in the server name).</summary>
    public bool IsIPv6 => Host.Contains(':', StringComparison.Ordinal);

    /// <summary>Parses and normalises <c>host[:port]</c>; false for anything outside the server name grammar.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, out ServerName serverName) => TryParse(text.AsSpan(), out serverName);

    /// <inheritdoc cref="TryParse(string?, out ServerName)"/>
    public static bool TryParse(ReadOnlySpan<char> text, out ServerName serverName)
    {
        if (!ServerNames.TryGetHostAndPort(text, out var host, out var port))
        {
            serverName = default;
            return false;
        }

        serverName = new ServerName(NormalizeHost(host), port);
        return true;
    }

    /// <summary>
    /// The normal form of a host (lower-case ASCII letters; everything else as it is). For hosts that were
    /// validated elsewhere (a CONNECT authority, a TLS server name, a configured host name).
    /// </summary>
    public static string NormalizeHost(ReadOnlySpan<char> host)
    {
        if (!host.ContainsAnyInRange('A', 'Z'))
        {
            return host.ToString();
        }

        Span<char> lower = host.Length <= 256 ? stackalloc char[host.Length] : new char[host.Length];
        Ascii.ToLower(host, lower, out _);
        return new string(lower);
    }

    /// <summary>Whether <paramref name="host"/> names this server name's host, in any letter case.</summary>
    public bool HostEquals(ReadOnlySpan<char> host) => host.Equals(Host, StringComparison.OrdinalIgnoreCase);

    /// <summary>The normalised server name: <c>example.org:8448</c>, <c>[2001:db8::1]:8448</c>.</summary>
    public override string ToString()
    {
        var host = IsIPv6 ? $"[{Host}]" : Host;
        return Port is { } port ? host + ":" + port.ToString(CultureInfo.InvariantCulture) : host;
    }
}
