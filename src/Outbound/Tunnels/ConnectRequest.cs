using System.Buffers;
using System.Text;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Policy.Http;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>Why a CONNECT head was refused.</summary>
internal enum ConnectParseError
{
    None,
    MalformedRequestLine,
    UnsupportedVersion,
    MalformedAuthority,
    MalformedHeader,
}

/// <summary>
/// Parses the head of an HTTP/1.x CONNECT request (RFC 9110 §9.3.6): <c>CONNECT host:port HTTP/1.1</c>,
/// then header lines, then an empty line. Strict: single spaces, a port, no line folding, header names
/// that are tokens and values without control characters.
/// </summary>
internal static class ConnectRequest
{
    private static readonly byte[] s_connect = "CONNECT "u8.ToArray();
    private static readonly byte[] s_headEnd = "\r\n\r\n"u8.ToArray();

    /// <summary>True when the bytes so far are, or may still become, a CONNECT request.</summary>
    public static bool MayBeConnect(ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[8];
        var length = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, length).CopyTo(start);
        return s_connect.AsSpan(0, length).SequenceEqual(start[..length]);
    }

    /// <summary>The end of the head (after the blank line), or null when it is not complete yet.</summary>
    public static SequencePosition? FindHeadEnd(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, s_headEnd, advancePastDelimiter: true) ? reader.Position : null;
    }

    /// <summary>Parses a complete head; host comes back without brackets.</summary>
    public static ConnectParseError Parse(ReadOnlySpan<byte> head, out string host, out int port) => Parse(head, out host, out port, out _);

    /// <param name="proxyAuthorization">The <c>Proxy-Authorization</c> value, when the head carries exactly one.</param>
    public static ConnectParseError Parse(ReadOnlySpan<byte> head, out string host, out int port, out string? proxyAuthorization)
    {
        host = string.Empty;
        port = 0;
        proxyAuthorization = null;
        var authorizations = 0;
        var lineEnd = head.IndexOf("\r\n"u8);
        var line = head[..lineEnd];
        if (!line.StartsWith(s_connect))
        {
            return ConnectParseError.MalformedRequestLine;
        }

        line = line[s_connect.Length..];
        var space = line.IndexOf((byte)' ');
        if (space <= 0)
        {
            return ConnectParseError.MalformedRequestLine;
        }

        var authority = line[..space];
        var version = line[(space + 1)..];
        if (!version.SequenceEqual("HTTP/1.1"u8) && !version.SequenceEqual("HTTP/1.0"u8))
        {
            return version.StartsWith("HTTP/"u8) && version.IndexOf((byte)' ') < 0
                ? ConnectParseError.UnsupportedVersion
                : ConnectParseError.MalformedRequestLine;
        }

        if (!TryParseAuthority(authority, out host, out port))
        {
            return ConnectParseError.MalformedAuthority;
        }

        var rest = head[(lineEnd + 2)..];
        while (true)
        {
            var end = rest.IndexOf("\r\n"u8);
            if (end <= 0)
            {
                // The blank line that ends the head (FindHeadEnd guarantees there is one).
                return ConnectParseError.None;
            }

            var header = rest[..end];
            var colon = header.IndexOf((byte)':');
            if (colon <= 0 || header[..colon].ContainsAnyExcept(HttpCharacters.TokenBytes) || ContainsControl(header[(colon + 1)..]))
            {
                return ConnectParseError.MalformedHeader;
            }

            if (Ascii.EqualsIgnoreCase(header[..colon], "Proxy-Authorization"u8))
            {
                // Two of them would be ambiguous; neither counts then.
                proxyAuthorization = ++authorizations == 1 ? Encoding.ASCII.GetString(header[(colon + 1)..]).Trim() : null;
            }

            rest = rest[(end + 2)..];
        }
    }

    private static bool TryParseAuthority(ReadOnlySpan<byte> authority, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        if (authority.IsEmpty || authority.Length > 300 || authority.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E))
        {
            return false;
        }

        // ServerNames checks the host grammar (DNS name, IPv4, bracketed IPv6) and the port exactly as for
        // Matrix server names; CONNECT also needs the port.
        if (!ServerNames.TryGetHostAndPort(Encoding.ASCII.GetString(authority), out var bare, out var explicitPort) || explicitPort is not { } parsed)
        {
            return false;
        }

        host = ServerName.NormalizeHost(bare);
        port = parsed;
        return true;
    }

    private static bool ContainsControl(ReadOnlySpan<byte> value)
    {
        foreach (var b in value)
        {
            if ((b < 0x20 && b != (byte)'\t') || b == 0x7F)
            {
                return true;
            }
        }

        return false;
    }
}
