using System.Diagnostics;
using MessengerProxy.Pipeline.Diagnostics;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Pipeline.RawData;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline;

/// <summary>A request a direction admitted; stored in <c>HttpContext.Features</c> by the direction.</summary>
internal interface IProxyRequest
{
    /// <summary>The matched endpoint's template (or <c>*</c>), as logs name it: never the raw path, which holds identifiers.</summary>
    string LogEndpoint { get; }

    RequestOutcome Outcome { get; set; }

    /// <summary>What the request is reported as to the rawdata-master: its direction's side of the endpoint's traits, or null.</summary>
    RawDataReport? RawData { get; }

    /// <summary>The user IDs the request invites, for raw-data rows that depend on them (read from the body the policies parsed).</summary>
    IReadOnlyList<string> Invitees();
}

/// <summary>What one proxy does in each stage of <see cref="ProxyPipeline{TRequest}"/>.</summary>
internal interface IRequestDirection<TRequest>
    where TRequest : class, IProxyRequest
{
    /// <summary>Framing, target and allowlist: the request, or null when it was refused (and answered).</summary>
    ValueTask<TRequest?> AdmitAsync(HttpContext context);

    /// <summary>The policies in their order, then local answers: true when the request was answered here.</summary>
    ValueTask<bool> AnswerAsync(HttpContext context, TRequest request);

    ForwardRoute RouteOf(TRequest request);

    /// <summary>The metric group of the request (endpoint family, destination kind); <paramref name="request"/> is null when it was not admitted.</summary>
    string GroupOf(HttpContext context, TRequest? request);

    /// <summary>The path as an error log may name it.</summary>
    string PathForLog(HttpContext context, TRequest? request);
}

/// <summary>
/// The request pipeline of both proxies, terminal for every request of their listeners (and of the front doors
/// that translate into HTTP). Its stages, in the order they run:
/// <code>
///   socket ─► Kestrel (HTTP/1.1 or 2, TLS) ─► [outbound: CONNECT + TLS interception, connection middlewares]
///     │
///     ▼  ProxyPipeline.InvokeAsync (timing, outcome metric, 500 instead of a stack trace)
///   1 Admit    framing and header checks (RequestFraming), protocol upgrades off, raw target (RequestTarget),
///              allowlist match (EndpointMatcher: the row and its EndpointTraits); outbound also proxy
///              credentials, destination policy, Host, X-Matrix destination
///   2 Answer   inbound: InboundPolicies in their order (TIM answers, size, token, X-Matrix origin, body read
///              once, domains, TIM content, redaction window), then local answers (.well-known)
///   3 Forward  UpstreamForwarder: YARP over the direction's pooled client, the RawTargetTransformer of the
///              route (X-Forwarded-* inbound, response rewrites and delegation learning by trait); failures
///              through ForwarderErrors
///   finally    the outcome metric; a request whose traits name a raw-data operation (while RawData is on) is
///              handed to the RawDataReporter with its arrival time, duration and body byte counts
/// </code>
/// A refusal at any stage is a Matrix error written by that stage; the pipeline only counts it.
/// </summary>
internal sealed class ProxyPipeline<TRequest> : IDisposable
    where TRequest : class, IProxyRequest
{
    private readonly IRequestDirection<TRequest> _direction;
    private readonly UpstreamForwarder _forwarder;
    private readonly RequestMetrics _metrics;
    private readonly RawDataReporter _rawData;
    private readonly ILogger _logger;

    public ProxyPipeline(IRequestDirection<TRequest> direction, UpstreamForwarder forwarder, RequestMetrics metrics, RawDataReporter rawData, ILogger logger)
    {
        _direction = direction;
        _forwarder = forwarder;
        _metrics = metrics;
        _rawData = rawData;
        _logger = logger;
    }

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        var arrival = _rawData.Enabled ? _rawData.Arrived() : default;
        TRequest? request = null;
        BodyByteCounter? counted = null;
        var outcome = RequestOutcome.Refused;
        try
        {
            request = await _direction.AdmitAsync(context);
            if (request is not null)
            {
                // Counted from here, before any stage reads the body; only reported requests pay for it.
                if (_rawData.Enabled && request.RawData is not null)
                {
                    counted = BodyByteCounter.Attach(context);
                }

                if (!await _direction.AnswerAsync(context, request))
                {
                    // The route is asked for again on failure rather than kept: this method's state lives on the heap
                    // for every forwarded request, and the failure path is rare.
                    var error = await _forwarder.SendAsync(context, _direction.RouteOf(request));
                    if (error != ForwarderError.None)
                    {
                        await _forwarder.AnswerFailureAsync(context, request, _direction.RouteOf(request), error);
                    }
                }

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
            outcome = RequestOutcome.Failed;
            Log.UnhandledError(_logger, context.Request.Method, _direction.PathForLog(context, request), ex);
            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
            }

            await MatrixResponses.WriteErrorAsync(context, new MatrixError(500, MatrixErrorCode.Unknown, "Internal proxy error"));
        }
        finally
        {
            _metrics.RequestCompleted(_direction.GroupOf(context, request), outcome, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalSeconds);
            if (counted is not null)
            {
                counted.Detach();
                ReportRawData(context, request!, arrival, counted);
            }
        }
    }

    // Never lets a reporting problem become the request's: the answer is complete by now.
    private void ReportRawData(HttpContext context, TRequest request, RawDataArrival arrival, BodyByteCounter counted)
    {
        try
        {
            _rawData.Report(context, request, request.RawData!, arrival, counted);
        }
        catch (Exception ex)
        {
            Log.UnhandledError(_logger, context.Request.Method, _direction.PathForLog(context, request), ex);
        }
    }

    public void Dispose() => _forwarder.Dispose();
}
