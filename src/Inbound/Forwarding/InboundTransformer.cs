using System.IO.Compression;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>
/// Shapes the request YARP sends to the homeserver: the raw target byte for byte and the original Host (the
/// shared <see cref="RawTargetTransformer"/>), and trustworthy X-Forwarded-* headers. With a rewriter it also
/// replaces the body of a successful response.
/// </summary>
internal sealed class InboundTransformer : RawTargetTransformer
{
    // Responses the proxy rewrites are a few KiB; anything much larger is not what the endpoint returns.
    internal const int MaxRewriteBytes = 1024 * 1024;

    private readonly ForwardedHeaders _forwarded;
    private readonly IResponseRewriter? _rewriter;
    private readonly ILogger _logger;

    public InboundTransformer(ForwardedHeaders forwarded, IResponseRewriter? rewriter, ILogger logger)
    {
        _forwarded = forwarded;
        _rewriter = rewriter;
        _logger = logger;
    }

    protected override RequestTarget TargetOf(HttpContext httpContext) => httpContext.Features.GetRequiredFeature<InboundRequestFeature>().Target;

    protected override ValueTask TransformHeadersAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, CancellationToken cancellationToken)
    {
        if (_rewriter is not null)
        {
            // Ask for an uncompressed body so it can be rewritten; compressed ones are still handled below.
            proxyRequest.Headers.Remove(HeaderNames.AcceptEncoding);
        }

        return _forwarded.ApplyAsync(httpContext, proxyRequest, headersCopied: true, cancellationToken);
    }

    public override async ValueTask<bool> TransformResponseAsync(HttpContext httpContext, HttpResponseMessage? proxyResponse, CancellationToken cancellationToken)
    {
        var copyBody = await base.TransformResponseAsync(httpContext, proxyResponse, cancellationToken);
        if (_rewriter is null || proxyResponse is not { StatusCode: System.Net.HttpStatusCode.OK } || HttpMethods.IsHead(httpContext.Request.Method))
        {
            return copyBody;
        }

        byte[] rewritten;
        try
        {
            var body = await ReadBoundedAsync(proxyResponse.Content, cancellationToken);
            rewritten = _rewriter.Rewrite(body);
        }
        catch (Exception ex) when (ex is FormatException or InvalidDataException)
        {
            return await RefuseAsync(httpContext, ex.Message);
        }

        var response = httpContext.Response;
        response.Headers.Remove(HeaderNames.ContentEncoding);
        response.Headers.Remove(HeaderNames.ETag);
        response.ContentLength = rewritten.Length;
        await response.Body.WriteAsync(rewritten, cancellationToken);
        return false;
    }

    private async Task<bool> RefuseAsync(HttpContext httpContext, string reason)
    {
        var request = httpContext.Features.GetRequiredFeature<InboundRequestFeature>();
        Log.UpstreamBodyInvalid(_logger, request.Endpoint.Template.Text, reason);
        request.Outcome = RequestOutcome.UpstreamError;
        if (!httpContext.Response.HasStarted)
        {
            httpContext.Response.Clear();
        }

        await MatrixResponses.WriteErrorAsync(httpContext, new MatrixError(502, MatrixErrorCode.Unknown, "The homeserver sent a response the proxy could not process"));
        return false;
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBoundedAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var raw = await content.ReadAsStreamAsync(cancellationToken);
        await using var decoded = Decode(raw, content.Headers.ContentEncoding);
        return await BoundedRead.ToEndAsync(decoded, MaxRewriteBytes, "the homeserver's body", content.Headers.ContentLength, cancellationToken);
    }

    private static Stream Decode(Stream raw, ICollection<string> encodings)
    {
        var stream = raw;
        foreach (var encoding in encodings.Reverse())
        {
            stream = encoding.Trim().ToLowerInvariant() switch
            {
                "gzip" or "x-gzip" => new GZipStream(stream, CompressionMode.Decompress),
                "deflate" => new ZLibStream(stream, CompressionMode.Decompress),
                "br" => new BrotliStream(stream, CompressionMode.Decompress),
                "identity" => stream,
                var other => throw new FormatException($"unsupported content encoding '{other}'"),
            };
        }

        return stream;
    }
}
