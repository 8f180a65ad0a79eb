using System.Text.Json;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies.Tim;

/// <summary>
/// Rule <c>redaction-window</c> (A_28358): an event older than <c>Tim:RedactionWindow</c> cannot be redacted
/// (403 <c>M_FORBIDDEN</c>). The event's <c>origin_server_ts</c> is read from the homeserver with the caller's own
/// access token (<c>GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}</c>), so the proxy needs no admin
/// credentials and learns nothing the caller could not see: when the homeserver refuses to show the event (403,
/// 404, an unknown token) its answer is relayed as it is, and the redaction is not sent. An unreachable homeserver
/// is 502, a silent one 504; an answer without a usable timestamp 502.
/// </summary>
internal sealed class RedactionWindowPolicy : IInboundPolicy
{

    // An event is at most 64 KiB (the PDU limit), plus what the homeserver adds in "unsigned".
    private const int MaxEventBytes = 1024 * 1024;

    private readonly CallerRequests _requests;
    private readonly TimeProvider _time;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;
    private readonly long _windowMilliseconds;
    private readonly MatrixError _tooOld;

    public RedactionWindowPolicy(
        CallerRequests requests,
        IOptions<TimOptions> tim,
        TimeProvider time,
        InboundMetrics metrics,
        ILogger<RedactionWindowPolicy> logger)
    {
        _requests = requests;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        var window = tim.Value.RedactionWindow;
        _windowMilliseconds = (long)window.TotalMilliseconds;
        _tooOld = new MatrixError(403, MatrixErrorCode.Forbidden, $"Events older than {Describe(window)} cannot be redacted");
    }

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request) =>
        request.IsPreflight || request.Endpoint.Traits.TimContent != TimContent.Redaction
            ? ValueTask.FromResult<MatrixError?>(null)
            : CheckAsync(context, request);

    private async ValueTask<MatrixError?> CheckAsync(HttpContext context, InboundRequestFeature request)
    {
        var error = await LookUpAsync(context, request);
        if (ReferenceEquals(error, _tooOld))
        {
            // Only the window itself is the rule's refusal; a relayed answer or a failed look-up is logged as what it is.
            request.RefusedBy = TimRules.RedactionWindow;
        }

        return error;
    }

    private async Task<MatrixError?> LookUpAsync(HttpContext context, InboundRequestFeature request)
    {
        var template = request.Endpoint.Template;
        template.TryGetParameter(request.Target.Path, "roomId", out var roomId);
        template.TryGetParameter(request.Target.Path, "eventId", out var eventId);

        // The identifiers stay as the client encoded them: the homeserver decodes them as it does for the redaction.
        var answer = await _requests.GetAsync(context, $"/_matrix/client/v3/rooms/{roomId}/event/{eventId}{TokenQuery(request)}",
            CallerRequests.Authorization(context), MaxEventBytes, "an event");
        if (answer.Failure is { } failure)
        {
            return Failed(answer.Reason!, failure);
        }

        if (!answer.IsSuccess)
        {
            return Relay(answer.Status, answer.ContentType, answer.Body);
        }

        if (!TryReadTimestamp(answer.Body, out var originServerTs))
        {
            return Failed("the event has no origin_server_ts", new MatrixError(502, MatrixErrorCode.Unknown, "The homeserver sent an event the proxy could not read"));
        }

        var age = _time.GetUtcNow().ToUnixTimeMilliseconds() - originServerTs;
        return age > _windowMilliseconds ? _tooOld : null;
    }

    /// <summary>The caller's token from the query, when that is where it came (Synapse reads it from either place).</summary>
    private static string TokenQuery(InboundRequestFeature request)
    {
        if (!request.Target.HasQuery)
        {
            return string.Empty;
        }

        var tokens = RequestTarget.QueryValues(request.Target.Query, "access_token");
        return tokens.Count == 0 ? string.Empty : "?access_token=" + Uri.EscapeDataString(tokens[0]);
    }

    private MatrixError Failed(string reason, MatrixError error)
    {
        _metrics.UpstreamError("event_lookup");
        Log.EventLookupFailed(_logger, TimRules.RedactionWindow.Name, reason, error.StatusCode);
        return error;
    }

    // The homeserver's own refusal (403 not in the room, 404 no such event, 401 unknown token, 429) is what the
    // redaction itself would have got: relayed as it is when it is a Matrix error, summarised otherwise.
    private static MatrixError Relay(int status, System.Net.Http.Headers.MediaTypeHeaderValue? contentType, ReadOnlyMemory<byte> body) =>
        HomeserverAnswers.Relay(status, contentType?.MediaType, body, "The homeserver did not show the event to redact");

    private static bool TryReadTimestamp(ReadOnlyMemory<byte> body, out long originServerTs)
    {
        originServerTs = 0;
        try
        {
            using var document = JsonDocument.Parse(body, BufferedRequestBody.DocumentOptions);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("origin_server_ts", out var ts)
                && ts.ValueKind == JsonValueKind.Number
                && ts.TryGetInt64(out originServerTs);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static string Describe(TimeSpan window) =>
        window.TotalHours >= 1 && window.TotalHours == Math.Floor(window.TotalHours) ? $"{window.TotalHours:0} hours" : $"{window.TotalMinutes:0.#} minutes";
}
