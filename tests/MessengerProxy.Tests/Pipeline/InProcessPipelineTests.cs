using System.Net;
using System.Text;
using MessengerProxy.Pipeline;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Tests.Pipeline;

/// <summary>
/// The whole inbound pipeline with a fake upstream handler under it, through the keyed client factory (as YARP's
/// own tests do): no homeserver, no upstream socket, yet every stage from the listener to the forwarder runs.
/// </summary>
public sealed class InProcessPipelineTests
{
    private const string Auth = "Authorization: Bearer token\r\n";

    [Fact]
    public async Task FakeHandler_SeesTheRawTargetHostAndForwardedHeaders()
    {
        var handler = new FakeHandler(_ => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });
        await using var proxy = await StartAsync(handler);

        var response = await RawHttp.SendAsync(proxy.InboundPort,
            RawHttp.Request("GET", "/_matrix/client/v3/rooms/%21r%3Aexample.org/event/%24e%3Aexample.org?a=1&b", Auth + "X-Forwarded-For: 6.6.6.6\r\n"));

        Assert.Equal(200, response.StatusCode);
        var seen = Assert.Single(handler.Requests);
        Assert.Equal("http://homeserver.invalid/_matrix/client/v3/rooms/%21r%3Aexample.org/event/%24e%3Aexample.org?a=1&b", seen.Uri);
        Assert.Equal("matrix.example.org", seen.Host);
        Assert.Equal("127.0.0.1", seen.ForwardedFor);
    }

    [Fact]
    public async Task FakeHandlerFailing_IsAnswered502_AndCountedAsUpstreamError()
    {
        var handler = new FakeHandler(_ => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused"));
        await using var proxy = await StartAsync(handler);

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/account/whoami", Auth));

        MessengerProxy.Tests.Inbound.RejectionTests.AssertMatrixError(response, 502, "M_UNKNOWN");
        Assert.Single(handler.Requests);
        var metrics = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
        Assert.Contains("messengerproxy_inbound_upstream_errors_total{kind=\"Request\"} 1", metrics);
        Assert.Contains("messengerproxy_inbound_requests_total{family=\"client\",outcome=\"upstream_error\",status_class=\"5xx\"} 1", metrics);
    }

    [Fact]
    public async Task RedactionWindowLookup_GoesThroughTheSameUpstreamClientFactory()
    {
        // An event older than the window: the redaction is refused after one look-up, and only that reaches the handler.
        var handler = new FakeHandler(_ => new HttpResponseMessage(HttpStatusCode.OK)
        {
            Content = new StringContent("""{"event_id":"$e","origin_server_ts":1000}""", Encoding.UTF8, "application/json"),
        });
        await using var proxy = await StartAsync(handler);

        var response = await RawHttp.SendAsync(proxy.InboundPort,
            RawHttp.Request("PUT", "/_matrix/client/v3/rooms/%21r%3Aexample.org/redact/%24e/txn1", Auth, "{}"));

        MessengerProxy.Tests.Inbound.RejectionTests.AssertMatrixError(response, 403, "M_FORBIDDEN");
        var seen = Assert.Single(handler.Requests);
        Assert.Equal("http://homeserver.invalid/_matrix/client/v3/rooms/%21r%3Aexample.org/event/%24e", seen.Uri);
        Assert.Equal("127.0.0.1", seen.ForwardedFor);
    }

    private static Task<ProxyHost> StartAsync(FakeHandler handler) =>
        ProxyHost.StartAsync("http://homeserver.invalid", builder =>
            builder.Services.AddKeyedSingleton<IForwarderHttpClientFactory>(PipelineDirection.Inbound, new FakeFactory(handler)));

    private sealed record SeenRequest(string Uri, string? Host, string? ForwardedFor);

    private sealed class FakeFactory(HttpMessageHandler handler) : IForwarderHttpClientFactory
    {
        public HttpMessageInvoker CreateClient(ForwarderHttpClientContext context) => new(handler, disposeHandler: false);
    }

    private sealed class FakeHandler(Func<HttpRequestMessage, HttpResponseMessage> answer) : HttpMessageHandler
    {
        private readonly List<SeenRequest> _requests = [];

        public IReadOnlyList<SeenRequest> Requests
        {
            get
            {
                lock (_requests)
                {
                    return _requests.ToList();
                }
            }
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            lock (_requests)
            {
                _requests.Add(new SeenRequest(
                    request.RequestUri!.OriginalString,
                    request.Headers.Host,
                    request.Headers.TryGetValues("X-Forwarded-For", out var values) ? string.Join(", ", values) : null));
            }

            return Task.FromResult(answer(request));
        }
    }
}
