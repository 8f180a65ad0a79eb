using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// Client mistakes in a request head that would otherwise only surface while forwarding, where they would
/// look like a failure of the remote server: header values the upstream client cannot send, protocol
/// upgrades. Refused before anything goes out, as the homeserver's fault (4xx).
/// </summary>
internal static class OutboundHeadChecks
{
    private const string Http2Settings = "HTTP2-Settings";

    /// <summary>A refusal, or null when the head may be forwarded.</summary>
    public static DestinationRefusal? Check(HttpContext context)
    {
        var headers = context.Request.Headers;
        foreach (var (_, values) in headers)
        {
            foreach (var value in values)
            {
                // Kestrel accepts UTF-8 in header values; HTTP/1.1 sends ASCII and the upstream client refuses
                // anything else (RFC 9110 §5.5: other octets are opaque, so the proxy cannot re-encode them).
                if (value is not null && value.AsSpan().ContainsAnyExceptInRange('\u0000', '\u007f'))
                {
                    return new DestinationRefusal(new MatrixError(400, MatrixErrorCode.Unknown, "A request header value has non-ASCII characters"), "non-ASCII header value");
                }
            }
        }

        // Matrix v1.11 has no protocol upgrades (WebSocket, h2c): after a 101 the connection would be a pipe
        // that no rule checks. Refused rather than stripped, so the client learns it asked for something else.
        if (headers.ContainsKey(HeaderNames.Upgrade) || headers.ContainsKey(Http2Settings) || HasUpgradeToken(headers.Connection))
        {
            context.Response.Headers.Connection = "close";
            return new DestinationRefusal(new MatrixError(400, MatrixErrorCode.Unrecognized, "Protocol upgrades are not supported by Matrix federation"), "protocol upgrade requested");
        }

        return null;
    }

    private static bool HasUpgradeToken(Microsoft.Extensions.Primitives.StringValues connection)
    {
        foreach (var value in connection)
        {
            foreach (var range in value.AsSpan().Split(','))
            {
                if (value.AsSpan()[range].Trim().Equals("upgrade", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
