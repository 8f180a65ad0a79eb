using MessengerProxy.Federation;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Outbound.Tunnels;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// The outbound stages of <see cref="ProxyPipeline{TRequest}"/>: every request the homeserver sends out, decrypted
/// inside a tunnel or sent as a plain <c>http://</c> proxy request, is admitted against the destination's rules,
/// then forwarded over a verified connection. Federation peers get only server-server endpoints whose X-Matrix
/// destination is the peer; extra hosts (push gateway, SSO) get any path.
/// </summary>
internal sealed class OutboundDirection : IRequestDirection<OutboundRequestFeature>
{
    private const string TransactionDirection = "outbound";

    private readonly EndpointMatcher _matcher;
    private readonly LogPath _logPath;
    private readonly DestinationPolicy _destinations;
    private readonly FederationListCache _federation;
    private readonly ProxyCredentials _credentials;
    private readonly OutboundTransformer _transformer;
    private readonly TransactionDomainCheck _transactions;
    private readonly ILogger _logger;
    private readonly long _maxBodyBytes;
    private readonly bool _requireDestination;
    private readonly string? _ownServerHost;

    public OutboundDirection(OutboundEndpoints endpoints, DestinationPolicy destinations, FederationListCache federation,
        ProxyCredentials credentials, DelegationTable delegations, TransactionDomainCheck transactions, IOptions<OutboundOptions> options,
        IOptions<FederationOptions> federationOptions, ILogger<OutboundDirection> logger)
    {
        _transactions = transactions;
        var settings = options.Value;
        _matcher = endpoints.Matcher;
        _logPath = endpoints.LogPath;
        _destinations = destinations;
        _federation = federation;
        _credentials = credentials;
        _logger = logger;
        _transformer = new OutboundTransformer(delegations, logger);
        _maxBodyBytes = settings.MaxRequestBodyBytes;
        _requireDestination = settings.RequireXMatrixDestination;
        _ownServerHost = federationOptions.Value.OwnServerName?.Host;
    }

    // Every check is made while admitting: nothing is answered by the outbound proxy itself.
    public ValueTask<bool> AnswerAsync(HttpContext context, OutboundRequestFeature request) => ValueTask.FromResult(false);

    public ForwardRoute RouteOf(OutboundRequestFeature request) =>
        new(request.Destination.Origin, _transformer, Upstream.Host(request.Destination.Host));

    /// <summary>Refused requests count under their tunnel's kind too; only plain requests refused early have none.</summary>
    public string GroupOf(HttpContext context, OutboundRequestFeature? request) =>
        (request?.Destination ?? context.Features.Get<TunnelFeature>()?.Destination)?.Kind switch
        {
            DestinationKind.Federation => "federation",
            DestinationKind.Extra => "extra",
            _ => "unmatched",
        };

    public string PathForLog(HttpContext context, OutboundRequestFeature? request)
    {
        var host = request?.Destination.Host ?? context.Features.Get<TunnelFeature>()?.Destination.Host ?? "-";
        if (request is not null)
        {
            return $"{host} {request.LogEndpoint}";
        }

        // Paths of federation requests name users and rooms: only their shape is logged.
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        var query = raw.IndexOf('?');
        return $"{host} {_logPath.Mask(query < 0 ? raw : raw.AsSpan(0, query))}";
    }

    /// <summary>Runs every check; answers and returns null when the request may not go out.</summary>
    public async ValueTask<OutboundRequestFeature?> AdmitAsync(HttpContext context)
    {
        if (context.Features.Get<TunnelFeature>() is { Refusal: not null } refusedTunnel)
        {
            await RefuseInsideTunnelAsync(context, refusedTunnel.Destination);
            return null;
        }

        var method = context.Request.Method;
        if (RequestFraming.Check(context) is { } framingError)
        {
            await RefuseAsync(context, null, "(malformed)", framingError, "ambiguous body framing");
            return null;
        }

        if (OutboundHeadChecks.Check(context) is { } headRefusal)
        {
            await RefuseAsync(context, context.Features.Get<TunnelFeature>()?.Destination, "(malformed)", headRefusal.Error, headRefusal.Reason);
            return null;
        }

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        Destination destination;
        string originForm;
        if (context.Features.Get<TunnelFeature>() is { } tunnel)
        {
            destination = tunnel.Destination;
            originForm = raw;
        }
        else
        {
            // Not in a tunnel: only absolute-form http:// requests (RFC 9112 §3.2.2) are proxy requests.
            var presented = context.Request.Headers[HeaderNames.ProxyAuthorization];
            if (!_credentials.Accepts(presented.Count == 1 ? presented[0] : null))
            {
                context.Response.Headers[HeaderNames.ProxyAuthenticate] = ProxyCredentials.Challenge;
                await RefuseAsync(context, null, "(proxy request)", new MatrixError(407, MatrixErrorCode.Unauthorized, "Proxy credentials required"),
                    presented.Count == 0 ? "no proxy credentials" : "wrong proxy credentials");
                return null;
            }

            if (!TrySplitAbsoluteHttp(raw, out var host, out var port, out originForm, out var why))
            {
                await RefuseAsync(context, null, "(not a proxy request)", new MatrixError(400, MatrixErrorCode.Unknown, why), "not an absolute http:// target");
                return null;
            }

            var (authorized, refusal) = await _destinations.AuthorizeAsync(host, port, tls: false, context.RequestAborted);
            if (authorized is null)
            {
                await RefuseAsync(context, null, originForm, refusal!.Error, refusal.Reason, host);
                return null;
            }

            destination = authorized;
        }

        var targetError = RequestTarget.TryParse(originForm, out var target);
        if (targetError != RequestTargetError.None)
        {
            await RefuseAsync(context, destination, "(malformed)", new MatrixError(400, MatrixErrorCode.Unrecognized, $"Malformed request target ({targetError})"), targetError.ToString());
            return null;
        }

        // The upstream client sends this Host as is; a value it could not send, or that is no server name at
        // all, is the client's mistake (400), not a remote failure.
        var hostHeader = context.Request.Headers.Host.ToString();
        if (!ServerNames.TryGetHost(hostHeader, out var hostName))
        {
            await RefuseAsync(context, destination, target.Path.ToString(),
                new MatrixError(400, MatrixErrorCode.Unknown, "The Host header is missing or not a valid host[:port]"), "malformed Host header");
            return null;
        }

        // A host in the list only as a delegate may be named in Host, as Synapse does for .well-known delegation
        // (server discovery step 3), but then the X-Matrix destination must name the delegating server.
        var hostIsDelegate = false;
        if (!destination.Serves(hostName))
        {
            if (!destination.IsHost(hostName))
            {
                await RefuseAsync(context, destination, target.Path.ToString(),
                    new MatrixError(403, MatrixErrorCode.Forbidden, $"The Host header does not name {destination.Host} or a server delegating to it"), "Host header mismatch");
                return null;
            }

            hostIsDelegate = true;
        }

        if (context.Request.ContentLength > _maxBodyBytes)
        {
            context.Response.Headers.Connection = "close";
            await RefuseAsync(context, destination, target.Path.ToString(), new MatrixError(413, MatrixErrorCode.TooLarge, "Request body is larger than the limit"), "body too large");
            return null;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = _maxBodyBytes;
        }

        if (destination.Kind == DestinationKind.Extra)
        {
            return Admit(context, destination, target, "*", learnDelegation: false);
        }

        var match = _matcher.Match(method, target.Path);
        switch (match.Status)
        {
            case EndpointMatchStatus.NotFound:
                await RefuseAsync(context, destination, target.Path.ToString(), MatrixError.UnknownEndpoint, "not a server-server endpoint of the allowlist");
                return null;
            case EndpointMatchStatus.MethodNotAllowed or EndpointMatchStatus.Preflight:
                await RefuseAsync(context, destination, target.Path.ToString(), MatrixError.MethodNotAllowed, "method not allowed", allow: match.Allow);
                return null;
        }

        var endpoint = match.Endpoint!;
        if (await CheckFederationRequestAsync(context, destination, target, endpoint, hostIsDelegate) is { } refusal2)
        {
            await RefuseAsync(context, destination, endpoint.Template.Text, refusal2.Error, refusal2.Reason);
            return null;
        }

        if (endpoint.Traits.FederationTransaction && _transactions.Enabled && await CheckTransactionAsync(context) is { } refusal3)
        {
            await RefuseAsync(context, destination, endpoint.Template.Text, refusal3.Error, refusal3.Reason);
            return null;
        }

        return Admit(context, destination, target, endpoint.Template.Text, learnDelegation: !hostIsDelegate && endpoint.Traits.LearnsDelegation, endpoint.Traits.OutboundRawData);
    }

    /// <summary>
    /// Every request in a tunnel accepted only to refuse (a host outside the federation) gets the federation
    /// list's verdict as it is now, whatever its path, Host or authorization: the homeserver learns why, and
    /// nothing goes anywhere. Once the host has been listed, the tunnel (never checked for forwarding) is
    /// stale: 421 Misdirected Request with <c>Connection: close</c>, which RFC 9110 §15.5.20 lets the client
    /// retry on a new connection, whose CONNECT is then judged afresh.
    /// </summary>
    private async Task RefuseInsideTunnelAsync(HttpContext context, Destination unlisted)
    {
        // Keep-alive only for requests framed beyond doubt; what the proxy refuses as malformed elsewhere (or
        // an upgrade, or a body over the limit, which would not be drained) ends the connection after the answer.
        if (RequestFraming.Check(context) is not null || OutboundHeadChecks.Check(context) is not null || context.Request.ContentLength > _maxBodyBytes)
        {
            context.Response.Headers.Connection = "close";
        }
        else if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } bodyLimit)
        {
            bodyLimit.MaxRequestBodySize = _maxBodyBytes;
        }

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        var path = RequestTarget.TryParse(raw, out var target) == RequestTargetError.None ? target.Path.ToString() : "(malformed)";
        if (_destinations.RefusalInsideNow(unlisted.Host) is { } refusal)
        {
            await RefuseAsync(context, unlisted, path, refusal.Error, refusal.Reason + ", answered inside the tunnel");
            return;
        }

        context.Response.Headers.Connection = "close";
        await RefuseAsync(context, unlisted, path,
            new MatrixError(421, MatrixErrorCode.Unknown, $"{unlisted.Host} has joined the federation since this connection was opened; retry on a new connection"),
            "host listed since the tunnel was opened");
    }

    /// <param name="hostIsDelegate">
    /// The Host names the tunnel's host, which serves only as a delegate: the X-Matrix destination is then the
    /// only thing that says which listed server the request is for, so it is required on every endpoint.
    /// </param>
    private async ValueTask<DestinationRefusal?> CheckFederationRequestAsync(HttpContext context, Destination destination, RequestTarget target, EndpointDescriptor endpoint,
        bool hostIsDelegate)
    {
        if (endpoint.Traits.LegacyMedia && endpoint.Template.TryGetParameter(target.Path, "serverName", out var rawServerName))
        {
            var serverName = Uri.UnescapeDataString(rawServerName.ToString());
            if (!ServerNames.TryGetHost(serverName, out var mediaHost) || !destination.Serves(mediaHost))
            {
                return new DestinationRefusal(new MatrixError(403, MatrixErrorCode.Forbidden, $"Media of {FederationErrors.Excerpt(serverName)} is not fetched from {destination.Host}"), "media server name mismatch");
            }
        }

        // The destination must match the tunnel whether or not the list is enforced: a request signed for one
        // server must not be delivered to another.
        var signed = endpoint.Api == MatrixApi.ServerServer && endpoint.Auth == AuthRequirement.Required;
        if (!signed && !hostIsDelegate)
        {
            return null;
        }

        if (FederationErrors.ReadXMatrix(context.Request.Headers[HeaderNames.Authorization], out var authorization) is { } unauthorized)
        {
            return signed ? new DestinationRefusal(unauthorized, "X-Matrix missing or malformed") : NotAddressed(destination);
        }

        if (_ownServerHost is not null && (!ServerNames.TryGetHost(authorization.Origin, out var origin) || !origin.Equals(_ownServerHost, StringComparison.OrdinalIgnoreCase)))
        {
            return new DestinationRefusal(new MatrixError(403, MatrixErrorCode.Forbidden, "X-Matrix origin is not this homeserver"), "origin is not the own server name");
        }

        if (authorization.Destination is null)
        {
            return hostIsDelegate ? NotAddressed(destination) : _requireDestination
                ? new DestinationRefusal(new MatrixError(401, MatrixErrorCode.Unauthorized, "X-Matrix authorization has no destination"), "X-Matrix without destination")
                : null;
        }

        if (!ServerNames.TryGetHost(authorization.Destination, out var destinationHost) || !destination.Serves(destinationHost))
        {
            return new DestinationRefusal(
                new MatrixError(403, MatrixErrorCode.Forbidden, $"X-Matrix destination {FederationErrors.Excerpt(authorization.Destination)} is not served by {destination.Host}"),
                "X-Matrix destination mismatch");
        }

        var check = await _federation.CheckAsync(authorization.Destination, context.RequestAborted);
        return FederationErrors.For(check, authorization.Destination, "destination") is { } refused
            ? new DestinationRefusal(refused, check.Verdict == FederationVerdict.ListUnavailable ? "federation list unavailable" : "destination not in the federation list")
            : null;
    }

    /// <summary>
    /// A transaction our homeserver sends is read whole (bounded by <c>MaxRequestBodyBytes</c>, as the inbound body
    /// stage reads bodies) and refused whole when it names a server outside the federation; otherwise exactly the
    /// bytes read go out, with a Content-Length.
    /// </summary>
    private async ValueTask<DestinationRefusal?> CheckTransactionAsync(HttpContext context)
    {
        var (body, error) = await BufferedRequestBody.ReadAsync(context, (int)Math.Min(_maxBodyBytes, Array.MaxLength - 1));
        if (error is not null)
        {
            return new DestinationRefusal(error, error.StatusCode == StatusCodes.Status413PayloadTooLarge ? "body too large" : "body unreadable");
        }

        context.Response.RegisterForDispose(body!);
        if (body!.Length > 0)
        {
            if (BufferedRequestBody.Validate(body.Memory.Span) is { } invalid)
            {
                return new DestinationRefusal(invalid, "transaction is not JSON");
            }

            if (await _transactions.CheckAsync(body.Memory, TransactionDirection, context.RequestAborted) is { } refused)
            {
                return new DestinationRefusal(refused.Error, $"transaction refused ({refused.Reason})");
            }
        }

        body.UseAsRequestBody(context.Request);
        return null;
    }

    private static DestinationRefusal NotAddressed(Destination destination) => new(
        new MatrixError(403, MatrixErrorCode.Forbidden, $"{destination.Host} is reachable only for the servers delegating to it; name one as Host or X-Matrix destination"),
        "request addressed to a delegate host itself");

    private static OutboundRequestFeature Admit(HttpContext context, Destination destination, RequestTarget target, string endpoint, bool learnDelegation,
        RawDataReport? rawData = null)
    {
        var feature = new OutboundRequestFeature(destination, target, endpoint, learnDelegation, rawData);
        context.Features.Set(feature);
        return feature;
    }

    private Task RefuseAsync(HttpContext context, Destination? destination, string path, MatrixError error, string reason, string? host = null, string? allow = null)
    {
        // Paths of federation requests name users and rooms (make_join/{roomId}/{userId}); only their shape is logged.
        var logged = path.StartsWith('(') ? path : _logPath.Mask(path);
        Log.RequestRefused(_logger, context.Request.Method, destination?.Host ?? host ?? "-", logged, error.StatusCode, error.ErrorCode, reason);
        return MatrixResponses.WriteErrorAsync(context, error, allow);
    }

    /// <summary>Splits <c>http://host[:port]/path?query</c>; the path part keeps its raw bytes.</summary>
    internal static bool TrySplitAbsoluteHttp(string raw, out string host, out int port, out string originForm, out string why)
    {
        host = string.Empty;
        port = 80;
        originForm = string.Empty;
        if (raw.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
        {
            why = "https:// targets must be tunnelled with CONNECT";
            return false;
        }

        if (!raw.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            why = "This is a forward proxy: send CONNECT host:port, or an absolute http:// request target";
            return false;
        }

        var rest = raw.AsSpan(7);
        var slash = rest.IndexOfAny('/', '?');
        var authority = slash < 0 ? rest : rest[..slash];
        originForm = slash < 0 ? "/" : rest[slash] == '?' ? "/" + rest[slash..].ToString() : rest[slash..].ToString();
        why = "Malformed authority in the request target";
        if (authority.IsEmpty || authority.Contains('@') || !ServerNames.TryGetHostAndPort(authority, out var bare, out var explicitPort))
        {
            return false;
        }

        host = ServerName.NormalizeHost(bare);
        port = explicitPort ?? 80;
        return true;
    }
}
