using System.Net;
using MessengerProxy.Pipeline.Diagnostics;
using MessengerProxy.Pipeline.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline.Forwarding;

/// <summary>Where and how an admitted request is forwarded.</summary>
/// <param name="DestinationPrefix">Scheme and authority of the upstream (<c>http://synapse:8008</c>).</param>
/// <param name="Transformer">Shapes the outgoing request and, where the endpoint asks, reads or rewrites the answer.</param>
/// <param name="Upstream">How answers and logs name the upstream.</param>
internal readonly record struct ForwardRoute(string DestinationPrefix, HttpTransformer Transformer, Upstream Upstream);

/// <summary>
/// The last stage of both pipelines: YARP's forwarder over the direction's one pooled client (from its keyed
/// <see cref="IForwarderHttpClientFactory"/>), bodies streamed both ways unless a stage buffered them, and every
/// failure answered through <see cref="ForwarderErrors"/>: counted, logged and written once for both directions.
/// </summary>
internal sealed class UpstreamForwarder : IDisposable
{
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly ForwarderRequestConfig _requestConfig;
    private readonly RequestMetrics _metrics;
    private readonly ILogger _logger;

    public UpstreamForwarder(IHttpForwarder forwarder, IForwarderHttpClientFactory clientFactory, TimeSpan activityTimeout, RequestMetrics metrics, ILogger logger)
    {
        _forwarder = forwarder;
        _client = UpstreamHttpClientFactory.CreateClient(clientFactory);
        _metrics = metrics;
        _logger = logger;
        _requestConfig = new ForwarderRequestConfig
        {
            ActivityTimeout = activityTimeout,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            AllowResponseBuffering = false,
        };
    }

    /// <summary>
    /// Sends the request upstream and relays the answer. Not async itself: the pipeline awaits YARP's task directly,
    /// so a forwarded request costs one state machine fewer; failures go to <see cref="AnswerFailureAsync"/>.
    /// </summary>
    public ValueTask<ForwarderError> SendAsync(HttpContext context, ForwardRoute route) =>
        _forwarder.SendAsync(context, route.DestinationPrefix, _client, _requestConfig, route.Transformer);

    /// <summary>Counts, logs and answers a failed <see cref="SendAsync"/> through <see cref="ForwarderErrors"/>.</summary>
    public async ValueTask AnswerFailureAsync(HttpContext context, IProxyRequest request, ForwardRoute route, ForwarderError error)
    {
        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        var failure = ForwarderErrors.Map(error, exception, route.Upstream);
        request.Outcome = failure.Outcome;
        var method = context.Request.Method;
        if (failure.Answer is not { } answer)
        {
            // The client went away: nobody to answer.
            Log.ClientAborted(_logger, method, route.Upstream.Name, request.LogEndpoint, error.ToString());
            return;
        }

        if (failure.Outcome == RequestOutcome.Refused)
        {
            // The exception may quote what the client sent; the forwarder's error name is enough here.
            Log.ForwardingRefused(_logger, method, route.Upstream.Name, request.LogEndpoint, answer.StatusCode, answer.ErrorCode, error.ToString());
        }
        else
        {
            _metrics.UpstreamError(error.ToString());
            Log.UpstreamFailed(_logger, method, route.Upstream.Name, request.LogEndpoint, error.ToString(), ExceptionChains.Innermost(exception), answer.StatusCode);
        }

        if (!context.Response.HasStarted)
        {
            context.Response.Clear();
            if (failure.CloseConnection)
            {
                context.Response.Headers.Connection = "close";
            }
        }

        await MatrixResponses.WriteErrorAsync(context, answer);
    }

    public void Dispose() => _client.Dispose();
}
