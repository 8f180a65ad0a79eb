using System.Buffers;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Pipeline.Http;

/// <summary>
/// Refuses requests the server tolerates but a proxy should not pass on, before anything is forwarded:
/// header names that are not tokens, header values outside visible ASCII (which other parsers read
/// differently, and which HttpClient refuses to send, so they would otherwise surface as a homeserver
/// failure), a Host that is not <c>host[:port]</c>, and ambiguous body framing. (Content-Length needs no
/// check here: Kestrel refuses every form but a number and keeps only the number it parsed.) The server already rejects conflicting or repeated Content-Length headers;
/// what it tolerates, and this refuses, is a Transfer-Encoding next to a Content-Length (Kestrel keeps the
/// latter as X-Content-Length) and transfer codings other than plain "chunked", which the proxy could
/// only pass on by dropping them.
/// </summary>
internal static class RequestFraming
{
    private const string MovedContentLength = "X-Content-Length";

    // Longest host (255) plus ":65535".
    private const int MaxHostLength = 261;

    public static MatrixError? Check(HttpContext context)
    {
        var headers = context.Request.Headers;
        foreach (var (name, values) in headers)
        {
            if (name.Length == 0 || (name[0] != ':' && name.AsSpan().ContainsAnyExcept(HttpCharacters.Token)))
            {
                return Malformed(context, "Malformed request header name");
            }

            foreach (var value in values)
            {
                if (value is not null && value.AsSpan().ContainsAnyExcept(HttpCharacters.FieldValue))
                {
                    // A control character may be an attempt to split the head, so the connection ends; text
                    // beyond ASCII is only a client mistake, and the connection may carry on.
                    return value.AsSpan().ContainsAny(HttpCharacters.Control)
                        ? Malformed(context, "Control character in a request header value")
                        : new MatrixError(400, MatrixErrorCode.Unknown, "Request header values must be ASCII: a value has non-ASCII characters");
                }
            }
        }

        // Kestrel demands exactly one Host for HTTP/1.1; HTTP/2 may leave :authority out, but never empty.
        var host = headers.Host;
        if (host.Count > 1 || (host.Count == 1 && !IsValidHost(host[0])))
        {
            return Malformed(context, "The Host header must be host[:port] with a port between 1 and 65535");
        }

        if (!headers.TryGetValue(HeaderNames.TransferEncoding, out var transferEncoding))
        {
            return null;
        }

        // Whatever the outcome, the rest of this connection cannot be trusted to be framed as the client meant.
        if (headers.ContainsKey(MovedContentLength) || headers.ContainsKey(HeaderNames.ContentLength))
        {
            context.Response.Headers.Connection = "close";
            return new MatrixError(400, MatrixErrorCode.Unknown, "Request has both Transfer-Encoding and Content-Length");
        }

        if (transferEncoding.Count != 1 || !string.Equals(transferEncoding[0]?.Trim(), "chunked", StringComparison.OrdinalIgnoreCase))
        {
            context.Response.Headers.Connection = "close";
            return new MatrixError(501, MatrixErrorCode.Unrecognized, "Unsupported Transfer-Encoding; only 'chunked' is accepted");
        }

        return null;
    }

    /// <summary>RFC 9110 §7.2 Host: <c>uri-host [ ":" port ]</c>, a reg-name of unreserved characters or an IP literal.</summary>
    internal static bool IsValidHost(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxHostLength)
        {
            return false;
        }

        var span = value.AsSpan();
        ReadOnlySpan<char> port;
        if (span[0] == '[')
        {
            var close = span.IndexOf(']');
            if (close < 2 || !System.Net.IPAddress.TryParse(span[1..close], out var address)
                || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            port = span[(close + 1)..];
        }
        else
        {
            var colon = span.IndexOf(':');
            var name = colon < 0 ? span : span[..colon];
            if (name.IsEmpty || name.ContainsAnyExcept(HttpCharacters.RegName))
            {
                return false;
            }

            port = colon < 0 ? default : span[colon..];
        }

        if (port.IsEmpty)
        {
            return true;
        }

        if (port[0] != ':')
        {
            return false;
        }

        port = port[1..];
        return port.Length is > 0 and <= 5
            && !port.ContainsAnyExceptInRange('0', '9')
            && int.Parse(port, provider: System.Globalization.CultureInfo.InvariantCulture) is > 0 and <= 65535;
    }

    private static MatrixError Malformed(HttpContext context, string message)
    {
        context.Response.Headers.Connection = "close";
        return new MatrixError(400, MatrixErrorCode.Unknown, message);
    }
}
