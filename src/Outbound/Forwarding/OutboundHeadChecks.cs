using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// Client mistakes in a request head that would otherwise only surface while forwarding, where they would
/// look like a failure of the remote server: protocol upgrades. Refused before anything goes out, as the
/// homeserver's fault (4xx). Header values the upstream client cannot send (non-ASCII) are refused earlier,
/// by <see cref="Hosting.Http.RequestFraming"/>, for both proxies.
/// </summary>
internal static class OutboundHeadChecks
{
    private const string Http2Settings = "HTTP2-Settings";

    /// <summary>A refusal, or null when the head may be forwarded.</summary>
    public static DestinationRefusal? Check(HttpContext context)
    {
        var headers = context.Request.Headers;

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
