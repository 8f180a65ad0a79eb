using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>
/// MSC3079's Observe of <c>/sync</c> (RFC 7641). A GET of the sync path with Observe 0 registers, keyed
/// by (access token, CoAP token); its answer is the first sync with Observe 1. The proxy then long-polls
/// the homeserver with <c>since=&lt;next_batch&gt;</c> and pushes each new sync as a confirmable
/// notification with increasing sequence numbers, exactly as a /sync response. The last pushed body is
/// kept so the blocks of a large notification can be fetched. A notification that is not acknowledged,
/// a Reset, an error from the homeserver, Observe 1 or the end of the association ends the registration.
/// </summary>
internal sealed class SyncObserver
{
    public const string SyncPath = "/_matrix/client/v3/sync";

    private readonly CoapRequestHandler _handler;
    private readonly LowBandwidthOptions _options;
    private readonly ILogger _logger;

    public SyncObserver(CoapRequestHandler handler, IOptions<LowBandwidthOptions> options, ILogger<SyncObserver> logger)
    {
        _handler = handler;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Whether a request is an Observe registration (0) or deregistration (1) of /sync, and its Matrix target.</summary>
    public bool IsSyncObserve(CoapMessage request, out bool register, out string target)
    {
        register = false;
        target = string.Empty;
        if (request.Code != 1 || request.Find(CoapOptionNumbers.Observe) is not { } observe
            || _handler.TargetOf(request) is not { } translated
            || !(translated == SyncPath || translated.StartsWith(SyncPath + "?", StringComparison.Ordinal)))
        {
            return false;
        }

        register = observe.UIntValue == 0;
        target = translated;
        return true;
    }

    /// <summary>
    /// Answers a registration with the first sync (Observe 1) and starts pushing; <paramref name="push"/>
    /// sends a confirmable notification and reports whether it was acknowledged.
    /// </summary>
    /// <param name="target">The request's Matrix target, as <see cref="IsSyncObserve"/> found it.</param>
    public async Task<CoapResponse> RegisterAsync(CoapAssociation association, CoapMessage request, string target, Func<CoapMessage, CancellationToken, Task<bool>> push, CancellationToken cancellationToken)
    {
        var key = KeyOf(association, request);
        var registration = association.Observe(key, cancellationToken);
        var bodyKey = CoapRequestHandler.BodyKey("GET", target);
        string? nextBatch = null;
        var status = 0;
        var response = await _handler.HandleAsync(association, request, registration.Token, r => (status, nextBatch) = (r.StatusCode, NextBatch(r)), bodyKey);
        if (status != 200 || nextBatch is null)
        {
            // RFC 7641 §3.2: anything but a success ends the observation before it starts.
            association.StopObserving(key, registration);
            return response;
        }

        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Observe, 1));
        _ = Task.Run(() => PushLoopAsync(association, request, key, registration, bodyKey, nextBatch, push), CancellationToken.None);
        return response;
    }

    public void Deregister(CoapAssociation association, CoapMessage request) => association.StopObserving(KeyOf(association, request), null);

    private async Task PushLoopAsync(CoapAssociation association, CoapMessage registrationRequest, string key, ObserveRegistration registration,
        string bodyKey, string since, Func<CoapMessage, CancellationToken, Task<bool>> push)
    {
        var cancellationToken = registration.Token;
        var sequence = 2u;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var poll = WithQuery(registrationRequest, since);
                var status = 0;
                string? nextBatch = null;
                var response = await _handler.HandleAsync(association, poll, cancellationToken, r => (status, nextBatch) = (r.StatusCode, NextBatch(r)), bodyKey);
                if (status == 200 && (nextBatch is null || nextBatch == since))
                {
                    // Nothing new (the long-poll timed out): poll again without bothering the phone.
                    continue;
                }

                var notification = response.ToMessage(CoapType.Confirmable, association.NextMessageId(), registrationRequest.Token);
                if (status == 200)
                {
                    notification.Add(CoapOption.FromUInt(CoapOptionNumbers.Observe, sequence++ & 0xFFFFFF));
                }

                var acknowledged = await push(notification, cancellationToken);
                if (!acknowledged || status != 200)
                {
                    Log.ObserveEnded(_logger, association.Peer.ToString(), acknowledged ? $"homeserver answered {status}" : "notification not acknowledged");
                    return;
                }

                since = nextBatch!;
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            association.StopObserving(key, registration);
        }
    }

    private CoapMessage WithQuery(CoapMessage registration, string since)
    {
        var poll = new CoapMessage { Type = CoapType.Confirmable, Code = 1, MessageId = 0, Token = registration.Token };
        foreach (var option in registration.Options)
        {
            var isQuery = option.Number == CoapOptionNumbers.UriQuery;
            var text = isQuery ? Encoding.UTF8.GetString(option.Value.Span) : string.Empty;
            if (option.Number is CoapOptionNumbers.Observe or CoapOptionNumbers.Block2 or CoapOptionNumbers.AccessToken
                || (isQuery && (text.StartsWith("since=", StringComparison.Ordinal) || text.StartsWith("timeout=", StringComparison.Ordinal))))
            {
                continue;
            }

            poll.Add(option);
        }

        poll.Add(CoapOption.FromString(CoapOptionNumbers.UriQuery, "since=" + since));
        poll.Add(CoapOption.FromString(CoapOptionNumbers.UriQuery, "timeout=" + (long)_options.ObserveLongPoll.TotalMilliseconds));
        return poll;
    }

    private static string KeyOf(CoapAssociation association, CoapMessage request) =>
        (association.AccessToken ?? string.Empty) + "/" + Convert.ToHexString(request.Token.Span);

    private static string? NextBatch(HttpResult result)
    {
        if (result.StatusCode != 200 || result.Body.Length == 0)
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(result.Body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("next_batch", out var value)
                && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A live /sync observation; cancelled when it ends for any reason.</summary>
internal sealed class ObserveRegistration : IDisposable
{
    private readonly CancellationTokenSource _cancellation;

    public ObserveRegistration(CancellationToken outer) => _cancellation = CancellationTokenSource.CreateLinkedTokenSource(outer);

    public CancellationToken Token => _cancellation.Token;

    public void Cancel() => _cancellation.Cancel();

    public void Dispose() => _cancellation.Dispose();
}
