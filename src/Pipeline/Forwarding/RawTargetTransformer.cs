using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline.Forwarding;

/// <summary>
/// The request core both proxies share: the raw target byte for byte (System.Uri would otherwise unescape,
/// re-escape and normalise the path, and X-Matrix signatures cover the exact bytes) and the client's Host.
/// Subclasses add the headers of their direction.
/// </summary>
internal abstract class RawTargetTransformer : HttpTransformer
{
    private static readonly UriCreationOptions s_rawUri = new() { DangerousDisablePathAndQueryCanonicalization = true };

    // Every step completes synchronously on the forwarding path, so no state machine is allocated here.
    public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
    {
        await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
        proxyRequest.RequestUri = new Uri(destinationPrefix + TargetOf(httpContext).Raw, s_rawUri);
        var host = httpContext.Request.Headers.Host;
        if (host.Count == 1 && !string.IsNullOrEmpty(host[0]))
        {
            proxyRequest.Headers.Host = host[0];
        }

        await TransformHeadersAsync(httpContext, proxyRequest, cancellationToken);
    }

    /// <summary>The request's target as it arrived, checked by the pipeline.</summary>
    protected abstract RequestTarget TargetOf(HttpContext httpContext);

    /// <summary>The direction's own headers, after the raw target and Host are set.</summary>
    protected abstract ValueTask TransformHeadersAsync(HttpContext httpContext, HttpRequestMessage proxyRequest, CancellationToken cancellationToken);
}
