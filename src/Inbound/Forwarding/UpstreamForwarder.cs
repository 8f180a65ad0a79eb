using MessengerProxy.Hosting.Http;
using System.Net;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>
/// Sends allowed requests to the homeserver with YARP's forwarder over one pooled keep-alive client,
/// streaming bodies both ways, and turns transport failures into Matrix errors.
/// </summary>
internal sealed class UpstreamForwarder : IDisposable
{
    private readonly IHttpForwarder _forwarder;
    private readonly HttpMessageInvoker _client;
    private readonly string _destinationPrefix;
    private readonly ForwarderRequestConfig _requestConfig;
    private readonly InboundTransformer _plain;
    private readonly InboundTransformer _versions;
    private readonly InboundTransformer _wellKnownClient;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;

    public UpstreamForwarder(
        IHttpForwarder forwarder,
        IOptions<InboundOptions> options,
        ForwardedHeaders forwardedHeaders,
        VersionsRewriter versionsRewriter,
        InboundMetrics metrics,
        ILogger<UpstreamForwarder> logger)
    {
        var settings = options.Value;
        _forwarder = forwarder;
        _metrics = metrics;
        _logger = logger;
        _destinationPrefix = settings.HomeserverUrl.TrimEnd('/');
        // A 101 from the homeserver would turn the client's connection into an unchecked pipe: refused as its failure.
        _client = new HttpMessageInvoker(new SwitchingProtocolsGuard(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // No trace headers are added: the homeserver sees the client's headers plus X-Forwarded-*.
            ActivityHeadersPropagator = null,
            ConnectTimeout = settings.UpstreamConnectTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(50),
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            EnableMultipleHttp2Connections = true,
        }), disposeHandler: true);
        _requestConfig = new ForwarderRequestConfig
        {
            ActivityTimeout = settings.UpstreamTimeout,
            Version = HttpVersion.Version11,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            AllowResponseBuffering = false,
        };

        _plain = new InboundTransformer(forwardedHeaders, rewriter: null, logger);
        _versions = new InboundTransformer(forwardedHeaders, versionsRewriter, logger);
        _wellKnownClient = string.IsNullOrEmpty(settings.PublicBaseUrl)
            ? _plain
            : new InboundTransformer(forwardedHeaders, new WellKnownClientRewriter(settings.PublicBaseUrl), logger);
    }

    public async Task ForwardAsync(HttpContext context, InboundRequestFeature request)
    {
        var transformer = request.IsPreflight ? _plain : request.Endpoint.Template.Text switch
        {
            "/_matrix/client/versions" => _versions,
            "/.well-known/matrix/client" => _wellKnownClient,
            _ => _plain,
        };

        var error = await _forwarder.SendAsync(context, _destinationPrefix, _client, _requestConfig, transformer);
        if (error == ForwarderError.None)
        {
            return;
        }

        var exception = context.Features.Get<IForwarderErrorFeature>()?.Exception;
        var endpoint = request.Endpoint.Template.Text;
        MatrixError? answer;
        switch (error)
        {
            case ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled
                or ForwarderError.ResponseBodyClient or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeResponseCanceled:
                request.Outcome = RequestOutcome.ClientAborted;
                Log.ClientAborted(_logger, context.Request.Method, endpoint, error.ToString());
                return;

            case ForwarderError.RequestBodyClient:
                request.Outcome = RequestOutcome.Rejected;
                answer = ExceptionChains.IsBodyTooLarge(exception)
                    ? new MatrixError(413, MatrixErrorCode.TooLarge, "Request body is larger than the limit")
                    : new MatrixError(400, MatrixErrorCode.Unknown, "The request body could not be read");
                break;

            case ForwarderError.RequestTimedOut:
                request.Outcome = RequestOutcome.UpstreamError;
                answer = new MatrixError(504, MatrixErrorCode.Unknown, "The homeserver did not answer in time");
                break;

            default:
                request.Outcome = RequestOutcome.UpstreamError;
                answer = new MatrixError(502, MatrixErrorCode.Unknown, "The homeserver is unreachable or sent an invalid response");
                break;
        }

        if (request.Outcome == RequestOutcome.UpstreamError)
        {
            _metrics.UpstreamError(error.ToString());
        }

        Log.UpstreamFailed(_logger, context.Request.Method, endpoint, error.ToString(), ExceptionChains.Innermost(exception), answer.StatusCode);
        if (!context.Response.HasStarted)
        {
            context.Response.Clear();
            if (answer.StatusCode == 413)
            {
                context.Response.Headers.Connection = "close";
            }
        }

        await MatrixResponses.WriteErrorAsync(context, answer);
    }

    public void Dispose() => _client.Dispose();
}
