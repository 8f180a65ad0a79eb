using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.WellKnown;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The inbound stages of <see cref="ProxyPipeline{TRequest}"/>, for every request of the public listeners (and of
/// every front door that translates into HTTP): raw target check and allowlist match (admit), the policies of
/// <see cref="InboundPolicies"/> and local answers (answer), then the homeserver (route).
/// </summary>
internal sealed class InboundDirection : IRequestDirection<InboundRequestFeature>
{
    private static readonly string[] s_familyLabels =
        Enum.GetValues<EndpointFamily>().Select(f => f.ToString().ToLowerInvariant()).ToArray();

    private readonly InboundEndpoints _endpoints;
    private readonly LogPath _logPath;
    private readonly IInboundPolicy[] _policies;
    private readonly WellKnownHandler _wellKnown;
    private readonly InboundRoutes _routes;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;

    public InboundDirection(
        InboundEndpoints endpoints,
        InboundPolicies policies,
        WellKnownHandler wellKnown,
        InboundRoutes routes,
        InboundMetrics metrics,
        ILogger<InboundDirection> logger)
    {
        _endpoints = endpoints;
        _logPath = endpoints.LogPath;
        _policies = policies.InOrder;
        _wellKnown = wellKnown;
        _routes = routes;
        _metrics = metrics;
        _logger = logger;
    }

    public ForwardRoute RouteOf(InboundRequestFeature request) => _routes.RouteOf(request);

    public string GroupOf(HttpContext context, InboundRequestFeature? request) =>
        request is null ? "unmatched" : s_familyLabels[(int)request.Endpoint.Family];

    public string PathForLog(HttpContext context, InboundRequestFeature? request)
    {
        if (request is not null)
        {
            return request.LogEndpoint;
        }

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        var query = raw.IndexOf('?');
        return _logPath.Mask(query < 0 ? raw : raw.AsSpan(0, query));
    }

    /// <summary>Checks the framing and the raw target and matches it; answers and returns null when it is refused.</summary>
    public async ValueTask<InboundRequestFeature?> AdmitAsync(HttpContext context)
    {
        var method = context.Request.Method;
        if (RequestFraming.Check(context) is { } framingError)
        {
            await RejectAsync(context, method, "ambiguous body framing", framingError);
            return null;
        }

        ProtocolUpgrades.Disable(context);

        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        var targetError = RequestTarget.TryParse(raw, out var target);
        if (targetError != RequestTargetError.None)
        {
            var error = new MatrixError(400, MatrixErrorCode.Unrecognized, targetError switch
            {
                RequestTargetError.NotOriginForm => "Malformed request target: only origin-form paths are accepted",
                RequestTargetError.InvalidPercentEncoding => "Malformed request target: invalid percent-encoding",
                RequestTargetError.EncodedControlCharacter => "Malformed request target: encoded control character in the path",
                _ => "Malformed request target: character not allowed",
            });
            await RejectAsync(context, method, targetError.ToString(), error);
            return null;
        }

        // Each listener matches against the rows of its own APIs only: another API's path is unknown there.
        var listener = context.Features.Get<InboundListenerFeature>();
        var apis = listener?.Apis ?? ListenerApis.None;
        var match = _endpoints.MatcherFor(apis).Match(method, target.Path);
        switch (match.Status)
        {
            case EndpointMatchStatus.NotFound or EndpointMatchStatus.MethodNotAllowed when apis != ListenerApis.All
                && _endpoints.Matcher.Match("OPTIONS", target.Path) is { Status: EndpointMatchStatus.Preflight, Endpoint: { } elsewhere }:
                // Answered exactly like a path outside the table, so the listener does not tell what else exists.
                var family = s_familyLabels[(int)elsewhere.Family];
                var apisLabel = listener?.ApisLabel ?? InboundListener.Label(apis);
                _metrics.WrongListener(apisLabel, family);
                await RejectAsync(context, method, $"{family} endpoint not served on {listener?.Name ?? "an untagged connection"} ({apisLabel})",
                    MatrixError.UnknownEndpoint, path: target.Path);
                return null;

            case EndpointMatchStatus.NotFound:
                await RejectAsync(context, method, "not in the allowlist", MatrixError.UnknownEndpoint, path: target.Path);
                return null;

            case EndpointMatchStatus.MethodNotAllowed:
                await RejectAsync(context, method, "method not allowed", MatrixError.MethodNotAllowed, match.Allow, target.Path);
                return null;
        }

        var request = new InboundRequestFeature(target, match.Endpoint!, match.Status == EndpointMatchStatus.Preflight);
        context.Features.Set(request);
        return request;
    }

    /// <summary>The policies in the order of <see cref="InboundPolicies"/>, then the well-known documents answered here.</summary>
    public ValueTask<bool> AnswerAsync(HttpContext context, InboundRequestFeature request)
    {
        // Most policies concern few endpoints and return at once: the loop stays synchronous until one does not.
        for (var i = 0; i < _policies.Length; i++)
        {
            var verdict = _policies[i].EvaluateAsync(context, request);
            if (!verdict.IsCompletedSuccessfully)
            {
                return ContinueAsync(context, request, verdict, i);
            }

            if (verdict.Result is { } error)
            {
                return RefuseAsync(context, request, error);
            }
        }

        return AnswerLocallyAsync(context, request);
    }

    private async ValueTask<bool> ContinueAsync(HttpContext context, InboundRequestFeature request, ValueTask<MatrixError?> pending, int index)
    {
        if (await pending is { } error)
        {
            return await RefuseAsync(context, request, error);
        }

        for (var i = index + 1; i < _policies.Length; i++)
        {
            if (await _policies[i].EvaluateAsync(context, request) is { } later)
            {
                return await RefuseAsync(context, request, later);
            }
        }

        return await AnswerLocallyAsync(context, request);
    }

    // A stage may have answered in the proxy's name (the default permission configuration); otherwise the
    // well-known documents the proxy serves itself.
    private ValueTask<bool> AnswerLocallyAsync(HttpContext context, InboundRequestFeature request) =>
        request.Answer is { } answer ? WriteAnswerAsync(context, request, answer)
        : !request.IsPreflight && request.Endpoint.Traits.WellKnown != WellKnownDocument.None
            ? _wellKnown.TryAnswerAsync(context, request)
            : ValueTask.FromResult(false);

    private static async ValueTask<bool> WriteAnswerAsync(HttpContext context, InboundRequestFeature request, LocalAnswer answer)
    {
        request.Outcome = RequestOutcome.Answered;
        await answer.WriteAsync(context);
        return true;
    }

    private async ValueTask<bool> RefuseAsync(HttpContext context, InboundRequestFeature request, MatrixError error)
    {
        request.Outcome = RequestOutcome.Refused;
        if (request.RefusedBy is { } rule)
        {
            // A rule's message may quote the body; the log names the rule and its requirement instead.
            Log.RuleRefused(_logger, context.Request.Method, request.LogEndpoint, rule.Name, rule.Requirement, error.StatusCode, error.ErrorCode);
            _metrics.RuleRefused(rule.Name);
        }
        else
        {
            Log.RequestRejected(_logger, context.Request.Method, request.LogEndpoint, error.StatusCode, error.ErrorCode, error.Message);
        }

        await MatrixResponses.WriteErrorAsync(context, error);
        return true;
    }

    private Task RejectAsync(HttpContext context, string method, string reason, MatrixError error, string? allow = null, ReadOnlySpan<char> path = default)
    {
        Log.RequestRejected(_logger, method, _logPath.Mask(path), error.StatusCode, error.ErrorCode, reason);
        return MatrixResponses.WriteErrorAsync(context, error, allow);
    }
}
