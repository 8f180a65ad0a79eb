using System.Net;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Bridge;

/// <summary>A translated request, ready for the inbound pipeline.</summary>
internal sealed record HttpCall(string Method, string RawTarget, string? AccessToken, string? ContentType, byte[] Body);

/// <summary>What the inbound pipeline answered.</summary>
internal sealed record HttpResult(int StatusCode, string? ContentType, byte[] Body);

/// <summary>
/// Runs translated CoAP requests through the very same inbound pipeline as HTTP requests (allowlist,
/// policies, federation checks, versions filter, forwarding), in process: each call becomes an
/// <see cref="HttpContext"/> whose connection is the UDP peer, so X-Forwarded-For names the phone.
/// </summary>
internal sealed class InboundBridge
{
    // MSC3079 is a client-server transport: the front door is a client listener, federation is not served over it.
    private static readonly InboundListenerFeature s_listener = new("LowBandwidth", ListenerApis.Client);

    private readonly LowBandwidthOptions _options;
    private RequestDelegate? _pipeline;

    public InboundBridge(IOptions<LowBandwidthOptions> options) => _options = options.Value;

    /// <summary>Set once by the host, when the inbound pipeline has been built.</summary>
    public void Connect(RequestDelegate pipeline) =>
        _pipeline = _pipeline is null ? pipeline : throw new InvalidOperationException("the bridge is already connected");

    public async Task<HttpResult> SendAsync(HttpCall call, IPEndPoint peer, CancellationToken cancellationToken)
    {
        var pipeline = _pipeline ?? throw new InvalidOperationException("the inbound pipeline is not connected");
        var query = call.RawTarget.IndexOf('?');
        var request = new HttpRequestFeature
        {
            Protocol = "HTTP/1.1",
            Scheme = "https",
            Method = call.Method,
            RawTarget = call.RawTarget,
            Path = PathString.FromUriComponent(query < 0 ? call.RawTarget : call.RawTarget[..query]),
            QueryString = query < 0 ? string.Empty : call.RawTarget[query..],
            Body = new MemoryStream(call.Body, writable: false),
        };
        request.Headers.Host = _options.HostHeader;
        if (call.AccessToken is not null)
        {
            request.Headers.Authorization = "Bearer " + call.AccessToken;
        }

        if (call.ContentType is not null)
        {
            request.Headers.ContentType = call.ContentType;
        }

        if (call.Body.Length > 0 || call.Method is "POST" or "PUT")
        {
            request.Headers.ContentLength = call.Body.Length;
        }

        var responseBody = new BoundedBuffer(_options.MaxResponseBodyBytes);
        var response = new HttpResponseFeature();
        var features = new FeatureCollection();
        features.Set<IHttpRequestFeature>(request);
        features.Set<IHttpRequestBodyDetectionFeature>(new BodyDetection(call.Body.Length > 0));
        features.Set(s_listener);
        features.Set<IHttpResponseFeature>(response);
        features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(responseBody));
        features.Set<IHttpConnectionFeature>(new PeerConnection(peer));
        using var aborted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        features.Set<IHttpRequestLifetimeFeature>(new HttpRequestLifetimeFeature { RequestAborted = aborted.Token });

        var context = new DefaultHttpContext(features);
        try
        {
            await pipeline(context);
        }
        catch (BoundedBuffer.FullException)
        {
            // Seen below: the forwarder usually catches the failed write itself and just stops.
        }

        if (responseBody.Overflowed)
        {
            return new HttpResult(502, "application/json", """{"errcode":"M_TOO_LARGE","error":"The homeserver's answer is too large for the low-bandwidth front door"}"""u8.ToArray());
        }

        return new HttpResult(context.Response.StatusCode, context.Response.ContentType, responseBody.ToArray());
    }

    /// <summary>The UDP peer as the request's connection; its ID is written only if something reads it.</summary>
    private sealed class PeerConnection(IPEndPoint peer) : IHttpConnectionFeature
    {
        private string? _connectionId;

        public string ConnectionId
        {
            get => _connectionId ??= peer.ToString();
            set => _connectionId = value;
        }

        public IPAddress? RemoteIpAddress { get; set; } = peer.Address;

        public int RemotePort { get; set; } = peer.Port;

        public IPAddress? LocalIpAddress { get; set; } = IPAddress.Loopback;

        public int LocalPort { get; set; }
    }

    private sealed class BodyDetection(bool canHaveBody) : IHttpRequestBodyDetectionFeature
    {
        public bool CanHaveBody { get; } = canHaveBody;
    }

    /// <summary>A memory stream that refuses to grow beyond a limit (a hostile or huge answer cannot exhaust memory).</summary>
    private sealed class BoundedBuffer(int limit) : MemoryStream
    {
        public bool Overflowed { get; private set; }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Check(buffer.Length);
            base.Write(buffer);
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Check(count);
            base.Write(buffer, offset, count);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Check(buffer.Length);
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
        {
            Check(count);
            return base.WriteAsync(buffer, offset, count, cancellationToken);
        }

        private void Check(int count)
        {
            if (Length + count > limit)
            {
                Overflowed = true;
                throw new FullException();
            }
        }

        public sealed class FullException : IOException
        {
            public FullException()
                : base("response body limit reached")
            {
            }
        }
    }
}
