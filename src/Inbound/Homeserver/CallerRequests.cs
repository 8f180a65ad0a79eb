using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>The homeserver's answer to a request the proxy sent on a caller's behalf, or why there was none.</summary>
internal readonly record struct CallerAnswer(int Status, System.Net.Http.Headers.MediaTypeHeaderValue? ContentType, ReadOnlyMemory<byte> Body, MatrixError? Failure, string? Reason)
{
    public bool IsSuccess => Failure is null && Status is >= 200 and < 300;
}

/// <summary>
/// GETs the proxy sends the homeserver with the caller's own credentials (the event to redact, whoami, the
/// permission configuration): the internal URL, the target as the client encoded it, the caller's
/// <c>X-Forwarded-*</c>, a bounded body. An unreachable homeserver is 502, a silent one 504, an unreadable answer 502.
/// They go through the inbound upstream client factory, like the forwarder's requests: same pool, same 101 guard.
/// </summary>
internal sealed class CallerRequests(
    [FromKeyedServices(PipelineDirection.Inbound)] IForwarderHttpClientFactory clients,
    ForwardedHeaders forwarded,
    IOptions<InboundOptions> inbound)
{
    private static readonly UriCreationOptions s_rawUri = new() { DangerousDisablePathAndQueryCanonicalization = true };

    private readonly string _homeserver = inbound.Value.HomeserverUrl.TrimEnd('/');
    private readonly HttpMessageInvoker _client = UpstreamHttpClientFactory.CreateClient(clients);
    private readonly TimeSpan _timeout = inbound.Value.UpstreamTimeout;

    /// <param name="pathAndQuery">Raw, as the homeserver should read it (identifiers still escaped).</param>
    /// <param name="what">What the answer is, for the message of an unreadable one ("an event").</param>
    public async Task<CallerAnswer> GetAsync(HttpContext context, string pathAndQuery, string? authorization, int maxBytes, string what)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(_homeserver + pathAndQuery, s_rawUri));
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation(HeaderNames.Authorization, authorization);
        }

        await forwarded.ApplyAsync(context, request, headersCopied: false, context.RequestAborted);
        try
        {
            // The invoker returns once the head is read; the timeout covers that wait and the bounded body.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(_timeout);
            using var response = await _client.SendAsync(request, timeout.Token);
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
                var body = await BoundedRead.ToEndAsync(stream, maxBytes, what, response.Content.Headers.ContentLength, timeout.Token);
                return new CallerAnswer((int)response.StatusCode, response.Content.Headers.ContentType, body, null, null);
            }
            catch (Exception ex) when (ex is FormatException or IOException or HttpRequestException)
            {
                return Failed(502, ex.Message, $"The homeserver sent {what} the proxy could not read");
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            return Failed(504, "the homeserver did not answer in time", "The homeserver did not answer in time");
        }
        catch (HttpRequestException ex)
        {
            return Failed(502, ExceptionChains.Innermost(ex), "The homeserver is unreachable or sent an invalid response");
        }
    }

    /// <summary>The caller's Authorization header, when it sent exactly one.</summary>
    public static string? Authorization(HttpContext context) =>
        context.Request.Headers[HeaderNames.Authorization] is [{ } authorization] ? authorization : null;

    private static CallerAnswer Failed(int status, string reason, string message) =>
        new(0, null, default, new MatrixError(status, MatrixErrorCode.Unknown, message), reason);
}
