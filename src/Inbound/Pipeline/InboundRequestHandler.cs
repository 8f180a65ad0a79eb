using MessengerProxy.Hosting.Http;
using System.Diagnostics;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.WellKnown;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The inbound pipeline, terminal for every request of the public listener (and, later, of every front
/// door that translates into HTTP): raw target check, allowlist match, policies, local answers, forward.
/// </summary>
internal sealed class InboundRequestHandler
{
    private static readonly string[] s_familyLabels =
        Enum.GetValues<EndpointFamily>().Select(f => f.ToString().ToLowerInvariant()).ToArray();

    private readonly InboundEndpoints _endpoints;
    private readonly LogPath _logPath;
    private readonly IInboundPolicy[] _policies;
    private readonly WellKnownHandler _wellKnown;
    private readonly UpstreamForwarder _forwarder;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;

    public InboundRequestHandler(
        InboundEndpoints endpoints,
        InboundPolicies policies,
        WellKnownHandler wellKnown,
        UpstreamForwarder forwarder,
        InboundMetrics metrics,
        ILogger<InboundRequestHandler> logger)
    {
        _endpoints = endpoints;
        _logPath = endpoints.LogPath;
        _policies = policies.InOrder;
        _wellKnown = wellKnown;
        _forwarder = forwarder;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        InboundRequestFeature? request = null;
        var outcome = RequestOutcome.Rejected;
        try
        {
            request = await RouteAsync(context);
            if (request is not null)
            {
                await ProcessAsync(context, request);
                outcome = request.Outcome;
            }
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            outcome = RequestOutcome.ClientAborted;
        }
        catch (Exception ex)
        {
            // Never a stack trace to the client: log it, answer a plain Matrix error if still possible.
            outcome = RequestOutcome.UpstreamError;
            Log.UnhandledError(_logger, context.Request.Method, request?.Endpoint.Template.Text ?? PathForLog(context), ex);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
            }

            await MatrixResponses.WriteErrorAsync(context, new MatrixError(500, MatrixErrorCode.Unknown, "Internal proxy error"));
        }
        finally
        {
            var family = request is null ? "unmatched" : s_familyLabels[(int)request.Endpoint.Family];
            _metrics.RequestCompleted(family, outcome, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>Checks the raw target and matches it; answers and returns null when it is refused.</summary>
    private async Task<InboundRequestFeature?> RouteAsync(HttpContext context)
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

    private async Task ProcessAsync(HttpContext context, InboundRequestFeature request)
    {
        foreach (var policy in _policies)
        {
            if (await policy.EvaluateAsync(context, request) is { } error)
            {
                request.Outcome = RequestOutcome.Rejected;
                if (request.RefusedBy is { } rule)
                {
                    // A rule's message may quote the body; the log names the rule and its requirement instead.
                    Log.RuleRefused(_logger, context.Request.Method, request.Endpoint.Template.Text, rule.Name, rule.Requirement, error.StatusCode, error.ErrorCode);
                    _metrics.RuleRefused(rule.Name);
                }
                else
                {
                    Log.RequestRejected(_logger, context.Request.Method, request.Endpoint.Template.Text, error.StatusCode, error.ErrorCode, error.Message);
                }

                await MatrixResponses.WriteErrorAsync(context, error);
                return;
            }
        }

        if (request.Answer is { } answer)
        {
            request.Outcome = RequestOutcome.Answered;
            await answer.WriteAsync(context);
            return;
        }

        if (!request.IsPreflight && request.Endpoint.Family == EndpointFamily.WellKnown && await _wellKnown.TryAnswerAsync(context, request))
        {
            return;
        }

        await _forwarder.ForwardAsync(context, request);
    }

    private Task RejectAsync(HttpContext context, string method, string reason, MatrixError error, string? allow = null, ReadOnlySpan<char> path = default)
    {
        Log.RequestRejected(_logger, method, _logPath.Mask(path), error.StatusCode, error.ErrorCode, reason);
        return MatrixResponses.WriteErrorAsync(context, error, allow);
    }

    private string PathForLog(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? string.Empty;
        var query = raw.IndexOf('?');
        return _logPath.Mask(query < 0 ? raw : raw.AsSpan(0, query));
    }
}
