using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Pipeline.Http;

/// <summary>
/// Matrix v1.11 has no protocol upgrades (no WebSocket, no h2c). An upgrade the proxy passed on and the
/// homeserver accepted with 101 would turn the connection into a pipe that no rule sees, so requests are
/// handled as what RFC 9110 §7.8 lets a server do with an unwanted Upgrade: ignore it. The request goes on
/// without its Upgrade headers, and the server's upgrade feature says no.
/// </summary>
internal static class ProtocolUpgrades
{
    private const string Http2Settings = "HTTP2-Settings";

    public static void Disable(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (headers.ContainsKey(HeaderNames.Upgrade) || headers.ContainsKey(Http2Settings))
        {
            headers.Remove(HeaderNames.Upgrade);
            headers.Remove(Http2Settings);
        }

        if (context.Features.Get<IHttpUpgradeFeature>() is { IsUpgradableRequest: true })
        {
            context.Features.Set<IHttpUpgradeFeature>(NotUpgradable.Instance);
        }
    }

    private sealed class NotUpgradable : IHttpUpgradeFeature
    {
        public static readonly NotUpgradable Instance = new();

        public bool IsUpgradableRequest => false;

        public Task<Stream> UpgradeAsync() => throw new InvalidOperationException("protocol upgrades are disabled");
    }
}
