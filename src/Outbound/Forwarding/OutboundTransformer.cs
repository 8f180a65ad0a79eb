using System.Text.Json;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// Shapes the request to the remote server: the raw target byte for byte (X-Matrix signatures cover it) and the
/// homeserver's Host (the shared <see cref="RawTargetTransformer"/>), no proxy headers and nothing that reveals
/// the internal network. Reads the answers of endpoints that learn delegations
/// (<c>/.well-known/matrix/server</c>).
/// </summary>
internal sealed class OutboundTransformer : RawTargetTransformer
{
    private const int MaxWellKnownBytes = 64 * 1024;

    private readonly DelegationTable _delegations;
    private readonly ILogger _logger;

    public OutboundTransformer(DelegationTable delegations, ILogger logger)
    {
        _delegations = delegations;
        _logger = logger;
    }

    protected override RequestTarget TargetOf(HttpContext httpContext) => httpContext.Features.GetRequiredFeature<OutboundRequestFeature>().Target;

    protected override ValueTask TransformHeadersAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, CancellationToken cancellationToken)
    {
        proxyRequest.Headers.Remove(HeaderNames.ProxyAuthorization);
        proxyRequest.Headers.Remove("Proxy-Connection");
        return ValueTask.CompletedTask;
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        var request = httpContext.Features.GetRequiredFeature<OutboundRequestFeature>();
        if (!request.LearnDelegation || proxyResponse is not { StatusCode: System.Net.HttpStatusCode.OK } || !copyBody
            || proxyResponse.Content.Headers.ContentEncoding.Count > 0)
        {
            return copyBody;
        }

        ReadOnlyMemory<byte> body;
        await using (var stream = await proxyResponse.Content.ReadAsStreamAsync(cancellationToken))
        {
            try
            {
                body = await BoundedRead.ToEndAsync(stream, MaxWellKnownBytes, "the remote /.well-known/matrix/server", proxyResponse.Content.Headers.ContentLength, cancellationToken);
            }
            catch (FormatException)
            {
                // Not a well-known document the homeserver could use either; let it see the failure.
                request.Outcome = RequestOutcome.UpstreamError;
                httpContext.Abort();
                return false;
            }
        }

        if (TryGetDelegatedHost(body.Span, out var delegated))
        {
            // The handler has checked that the Host names a server this tunnel serves.
            var serverName = ServerName.NormalizeHost(HostOf(httpContext.Request.Headers.Host.ToString()));
            _delegations.Learn(serverName, delegated);
            Log.DelegationLearned(_logger, serverName, delegated);
        }

        httpContext.Response.ContentLength = body.Length;
        await httpContext.Response.Body.WriteAsync(body, cancellationToken);
        return false;
    }

    private static bool TryGetDelegatedHost(ReadOnlySpan<byte> json, out string host)
    {
        host = string.Empty;
        try
        {
            using var document = JsonDocument.Parse(json.ToArray(), new JsonDocumentOptions { MaxDepth = 8 });
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("m.server", out var server)
                && server.ValueKind == JsonValueKind.String
                && ServerName.TryParse(server.GetString(), out var delegated))
            {
                host = delegated.Host;
                return true;
            }
        }
        catch (JsonException)
        {
        }

        return false;
    }

    private static ReadOnlySpan<char> HostOf(string hostHeader) =>
        ServerNames.TryGetHost(hostHeader, out var host) ? host : hostHeader.AsSpan();
}
