using System.Buffers;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Hosting.Http;

/// <summary>
/// Refuses requests the server tolerates but a proxy should not pass on: header names that are not
/// tokens and header values with control characters (which other parsers may read differently), and
/// ambiguous body framing. The server already rejects conflicting or repeated
/// Content-Length headers; what it tolerates, and this refuses, is a Transfer-Encoding next to a
/// Content-Length (Kestrel keeps the latter as X-Content-Length) and transfer codings other than plain
/// "chunked", which the proxy could only pass on by dropping them.
/// </summary>
public static class RequestFraming
{
    private const string MovedContentLength = "X-Content-Length";

    // RFC 9110 token characters.
    private static readonly SearchValues<char> s_tokenChars =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

    private static readonly SearchValues<char> s_controlChars =
        SearchValues.Create("\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");

    public static MatrixError? Check(HttpContext context)
    {
        var headers = context.Request.Headers;
        foreach (var (name, values) in headers)
        {
            if (name.Length == 0 || (name[0] != ':' && name.AsSpan().ContainsAnyExcept(s_tokenChars)))
            {
                return Malformed(context, "Malformed request header name");
            }

            foreach (var value in values)
            {
                if (value is not null && value.AsSpan().ContainsAny(s_controlChars))
                {
                    return Malformed(context, "Control character in a request header value");
                }
            }
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

    private static MatrixError Malformed(HttpContext context, string message)
    {
        context.Response.Headers.Connection = "close";
        return new MatrixError(400, MatrixErrorCode.Unknown, message);
    }
}
