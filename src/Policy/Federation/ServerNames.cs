namespace MessengerProxy.Policy.Federation;

/// <summary>Matrix server names (<c>host[:port]</c>) and the domain the federation list is keyed by.</summary>
internal static class ServerNames
{
    /// <summary>
    /// The host of a server name, without port or IPv6 brackets: <c>example.org:8448</c> → <c>example.org</c>.
    /// False for anything that is not a syntactically valid server name.
    /// </summary>
    public static bool TryGetHost(ReadOnlySpan<char> serverName, out ReadOnlySpan<char> host) => TryGetHostAndPort(serverName, out host, out _);

    /// <summary>Like <see cref="TryGetHost"/>, also giving the port when the server name has one.</summary>
    public static bool TryGetHostAndPort(ReadOnlySpan<char> serverName, out ReadOnlySpan<char> host, out int? port)
    {
        host = default;
        port = null;
        if (serverName.IsEmpty || serverName.Length > 255)
        {
            return false;
        }

        ReadOnlySpan<char> portText = default;
        if (serverName[0] == '[')
        {
            var close = serverName.IndexOf(']');
            if (close < 2 || !System.Net.IPAddress.TryParse(serverName[1..close], out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            host = serverName[1..close];
            if (close + 1 < serverName.Length)
            {
                if (serverName[close + 1] != ':')
                {
                    return false;
                }

                portText = serverName[(close + 2)..];
            }
        }
        else
        {
            var colon = serverName.IndexOf(':');
            host = colon < 0 ? serverName : serverName[..colon];
            if (colon >= 0)
            {
                portText = serverName[(colon + 1)..];
            }

            // DNS name or IPv4: letters, digits, '-' and '.' only, no empty labels.
            if (host.IsEmpty || host.ContainsAnyExcept(s_hostChars) || host[0] == '.' || host[^1] == '.' || host.IndexOf("..") >= 0)
            {
                return false;
            }
        }

        if (!portText.IsEmpty || serverName[^1] == ':')
        {
            if (portText.IsEmpty || portText.Length > 5 || portText.ContainsAnyExcept(s_digits))
            {
                return false;
            }

            port = int.Parse(portText, provider: System.Globalization.CultureInfo.InvariantCulture);
            if (port is 0 or > 65535)
            {
                port = null;
                return false;
            }
        }

        return true;
    }

    /// <summary>The server name of a Matrix user ID (<c>@local:server.name</c>), or false if it is not one.</summary>
    public static bool TryGetUserServerName(ReadOnlySpan<char> userId, out ReadOnlySpan<char> serverName)
    {
        serverName = default;
        if (userId.Length < 4 || userId[0] != '@')
        {
            return false;
        }

        var colon = userId.IndexOf(':');
        if (colon < 2)
        {
            return false;
        }

        serverName = userId[(colon + 1)..];
        return TryGetHost(serverName, out _);
    }

    private static readonly System.Buffers.SearchValues<char> s_hostChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.");

    // ContainsAnyExceptInRange('0', '9') allocated 96 bytes a call here (.NET 10, measured by
    // TransactionScannerTests.AListedTransaction_AllocatesNothing); a SearchValues set does not.
    private static readonly System.Buffers.SearchValues<char> s_digits = System.Buffers.SearchValues.Create("0123456789");
}
