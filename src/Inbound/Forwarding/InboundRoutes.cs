using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>
/// Where an admitted inbound request goes: always the homeserver, through the transformer its endpoint's
/// <see cref="EndpointTraits.ResponseRewrite"/> names (preflights are never rewritten).
/// </summary>
internal sealed class InboundRoutes
{
    private readonly ForwardRoute _plain;
    private readonly ForwardRoute _versions;
    private readonly ForwardRoute _wellKnownClient;

    public InboundRoutes(IOptions<InboundOptions> options, ForwardedHeaders forwardedHeaders, VersionsRewriter versionsRewriter, ILogger<InboundTransformer> logger)
    {
        var settings = options.Value;
        var prefix = settings.HomeserverUrl.TrimEnd('/');
        _plain = new ForwardRoute(prefix, new InboundTransformer(forwardedHeaders, rewriter: null, logger), Upstream.Homeserver);
        _versions = _plain with { Transformer = new InboundTransformer(forwardedHeaders, versionsRewriter, logger) };
        _wellKnownClient = string.IsNullOrEmpty(settings.PublicBaseUrl)
            ? _plain
            : _plain with { Transformer = new InboundTransformer(forwardedHeaders, new WellKnownClientRewriter(settings.PublicBaseUrl), logger) };
    }

    public ForwardRoute RouteOf(InboundRequestFeature request) => request.IsPreflight ? _plain : request.Endpoint.Traits.ResponseRewrite switch
    {
        ResponseRewrite.Versions => _versions,
        ResponseRewrite.WellKnownClient => _wellKnownClient,
        _ => _plain,
    };
}
