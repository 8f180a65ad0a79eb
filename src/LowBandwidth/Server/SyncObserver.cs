using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Mapping;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>
/// MSC3079's Observe of <c>/sync</c> (RFC 7641), for the endpoint whose traits say
/// <see cref="Policy.Endpoints.EndpointTraits.SyncObservable"/>. A GET with Observe 0 registers, keyed by
/// (access token, CoAP token); its answer is the first sync with Observe 1. The proxy then long-polls the
/// homeserver with <c>since=&lt;next_batch&gt;</c> and pushes each new sync as a confirmable notification with
/// increasing sequence numbers, exactly as a /sync response. The last pushed body is kept so the blocks of a
/// large notification can be fetched. A notification that is not acknowledged, a Reset, an error from the
/// homeserver, Observe 1 or the end of the association ends the registration.
/// </summary>
internal sealed class SyncObserver
{
    private readonly CoapHttpTranslator _translator;
    private readonly CoapRequestHandler _handler;
    private readonly LowBandwidthOptions _options;
    private readonly ILogger _logger;

    public SyncObserver(CoapHttpTranslator translator, CoapRequestHandler handler, IOptions<LowBandwidthOptions> options, ILogger<SyncObserver> logger)
    {
        _translator = translator;
        _handler = handler;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>Whether a request is an Observe registration (0) or deregistration (1) of the sync stream.</summary>
    public bool IsSyncObserve(CoapMessage request, out bool register)
    {
        register = false;
        if (request.Code != CoapCodes.Get || request.Find(CoapOptionNumbers.Observe) is not { } observe
            || _translator.TargetOf(request) is not { Traits.SyncObservable: true })
        {
            return false;
        }

        register = observe.UIntValue == 0;
        return true;
    }

    /// <summary>Answers a registration with the first sync (Observe 1) and starts pushing, on the association's background work.</summary>
    public async Task<CoapResponse> RegisterAsync(CoapAssociation association, CoapMessage request, CancellationToken cancellationToken)
    {
        var key = KeyOf(association, request);
        var registration = association.Observations.Start(key, cancellationToken);
        var bodyKey = _translator.TargetOf(request)!.BodyKey;
        var (response, upstream) = await _handler.ExchangeAsync(association, request, bodyKey, registration.Token);
        if (NextBatch(upstream) is not { } nextBatch)
        {
            // RFC 7641 §3.2: anything but a success ends the observation before it starts.
            association.Observations.Stop(key, registration);
            return response;
        }

        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Observe, 1));
        association.Work.Run(() => PushLoopAsync(association, request, key, registration, bodyKey, nextBatch));
        return response;
    }

    public void Deregister(CoapAssociation association, CoapMessage request) => association.Observations.Stop(KeyOf(association, request), null);

    private async Task PushLoopAsync(CoapAssociation association, CoapMessage registrationRequest, string key, ObserveRegistration registration, string bodyKey, string since)
    {
        var cancellationToken = registration.Token;
        var sequence = 2u;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var (response, upstream) = await _handler.ExchangeAsync(association, WithQuery(registrationRequest, since), bodyKey, cancellationToken);
                var status = upstream?.StatusCode ?? 0;
                var nextBatch = NextBatch(upstream);
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

                var outcome = await association.Confirmables.SendAsync(notification, cancellationToken);
                var acknowledged = outcome == ConfirmableOutcome.Acknowledged;
                if (outcome == ConfirmableOutcome.Unanswered)
                {
                    Log.Unacknowledged(_logger, association.Peer, _options.MaxRetransmit + 1);
                }

                if (!acknowledged || status != 200)
                {
                    Log.ObserveEnded(_logger, association.Peer, acknowledged ? $"homeserver answered {status}" : "notification not acknowledged");
                    return;
                }

                since = nextBatch!;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            // Background work must not fault: the observation just ends.
            Log.UnhandledError(_logger, association.Peer, ex);
        }
        finally
        {
            association.Observations.Stop(key, registration);
        }
    }

    private CoapMessage WithQuery(CoapMessage registration, string since)
    {
        var poll = new CoapMessage { Type = CoapType.Confirmable, Code = CoapCodes.Get, MessageId = 0, Token = registration.Token };
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

    /// <summary>The <c>next_batch</c> of a successful sync; null for anything else.</summary>
    private static string? NextBatch(HttpResult? result)
    {
        if (result is not { StatusCode: 200 } || result.Body.Length == 0)
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
