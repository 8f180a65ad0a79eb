using System.Net;
using System.Security.Cryptography;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>
/// The CoAP message layer (RFC 7252 §4) shared by the DTLS and plain transports: deduplication by message
/// ID for EXCHANGE_LIFETIME, piggybacked answers when the homeserver is quick, otherwise an empty ACK and a
/// separate confirmable response with its own message ID, retransmitted with exponential backoff until
/// acknowledged; pings answered with RST; malformed confirmable messages rejected with RST.
/// </summary>
internal sealed class CoapEndpoint
{
    // RFC 7252 §4.8.2 with the default transmission parameters.
    private static readonly TimeSpan s_exchangeLifetime = TimeSpan.FromSeconds(247);

    private readonly CoapRequestHandler _handler;
    private readonly SyncObserver _observer;
    private readonly LowBandwidthOptions _options;
    private readonly TimeProvider _time;
    private readonly BodyBudget _budget;
    private readonly ILogger _logger;

    public CoapEndpoint(CoapRequestHandler handler, SyncObserver observer, IOptions<LowBandwidthOptions> options, TimeProvider time, BodyBudget budget, ILogger<CoapEndpoint> logger)
    {
        _handler = handler;
        _budget = budget;
        _observer = observer;
        _options = options.Value;
        _time = time;
        _logger = logger;
    }

    /// <summary>A new association of a transport, its bodies held under the budget shared by all.</summary>
    public CoapAssociation CreateAssociation(IPEndPoint peer, IDatagramSink sink) => new(peer, sink, _time.GetUtcNow(), _budget);

    /// <summary>Handles one datagram of an association; never throws.</summary>
    public async Task ProcessAsync(CoapAssociation association, ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        try
        {
            await ProcessCoreAsync(association, datagram, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.UnhandledError(_logger, association.Peer.ToString(), ex);
        }
    }

    private async Task ProcessCoreAsync(CoapAssociation association, ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        association.LastActivity = _time.GetUtcNow();
        var error = CoapMessage.TryParse(datagram, out var message);
        if (error != CoapFormatError.None)
        {
            Log.Malformed(_logger, association.Peer.ToString(), error.ToString());

            // RFC 7252 §4.2: a confirmable message that cannot be processed is rejected with a Reset.
            if (datagram.Length >= 4 && datagram.Span[0] >> 6 == 1 && ((datagram.Span[0] >> 4) & 3) == (int)CoapType.Confirmable)
            {
                var mid = (ushort)((datagram.Span[2] << 8) | datagram.Span[3]);
                await association.Sink.SendAsync(Empty(CoapType.Reset, mid), cancellationToken);
            }

            return;
        }

        switch (message.Type)
        {
            case CoapType.Acknowledgement or CoapType.Reset:
                association.CompleteOutgoing(message.MessageId, message.Type == CoapType.Acknowledgement);
                return;
        }

        if (message.IsEmpty || !message.IsRequest)
        {
            // An empty CON is a ping (RFC 7252 §4.3): answered with RST. A response sent to us is rejected too.
            if (message.Type == CoapType.Confirmable)
            {
                await association.Sink.SendAsync(Empty(CoapType.Reset, message.MessageId), cancellationToken);
            }

            return;
        }

        if (!association.TryBegin(message.MessageId, _time.GetUtcNow(), s_exchangeLifetime, out var previous))
        {
            // A retransmission: the same answer again, or nothing while the first is still being worked on.
            if (previous is not null)
            {
                await association.Sink.SendAsync(previous, cancellationToken);
            }

            return;
        }

        Task<CoapResponse> work;
        var started = association.TryStartRequest(_options.MaxRequestsInFlight);
        if (!started)
        {
            work = Task.FromResult(_handler.Overloaded(association));
        }
        else if (_observer.IsSyncObserve(message, out var register, out var target) && register)
        {
            work = _observer.RegisterAsync(association, message, target, (notification, token) => SendConfirmableAsync(association, notification, token), cancellationToken);
        }
        else
        {
            if (target.Length > 0)
            {
                _observer.Deregister(association, message);
            }

            work = _handler.HandleAsync(association, message, cancellationToken);
        }

        if (started)
        {
            work = ReleaseWhenDone(association, work);
        }

        if (message.Type == CoapType.NonConfirmable)
        {
            await ReplyAsync(association, message.MessageId, (await work).ToMessage(CoapType.NonConfirmable, association.NextMessageId(), message.Token).Serialize(), cancellationToken);
            return;
        }

        if (await Task.WhenAny(work, Task.Delay(_options.AckDelay, _time, cancellationToken)) == work)
        {
            await ReplyAsync(association, message.MessageId, (await work).ToMessage(CoapType.Acknowledgement, message.MessageId, message.Token).Serialize(), cancellationToken);
            return;
        }

        // The homeserver is slow (a long-polling /sync): acknowledge now so the client stops retransmitting.
        await ReplyAsync(association, message.MessageId, Empty(CoapType.Acknowledgement, message.MessageId), cancellationToken);

        var response = await work;
        var separate = response.ToMessage(CoapType.Confirmable, association.NextMessageId(), message.Token);
        await SendConfirmableAsync(association, separate, cancellationToken);
    }

    private static async Task<CoapResponse> ReleaseWhenDone(CoapAssociation association, Task<CoapResponse> work)
    {
        try
        {
            return await work;
        }
        finally
        {
            association.EndRequest();
        }
    }

    /// <summary>Sends a CON and retransmits it (RFC 7252 §4.2) until ACK or RST; true when acknowledged.</summary>
    public async Task<bool> SendConfirmableAsync(CoapAssociation association, CoapMessage message, CancellationToken cancellationToken)
    {
        var bytes = message.Serialize();
        var acknowledged = association.ExpectAck(message.MessageId);
        var timeout = _options.AckTimeout * (1 + (RandomNumberGenerator.GetInt32(1000) / 2000.0));
        try
        {
            for (var attempt = 0; attempt <= _options.MaxRetransmit; attempt++)
            {
                await association.Sink.SendAsync(bytes, cancellationToken);
                if (await Task.WhenAny(acknowledged, Task.Delay(timeout, _time, cancellationToken)) == acknowledged)
                {
                    return await acknowledged;
                }

                timeout *= 2;
            }

            Log.Unacknowledged(_logger, association.Peer.ToString(), _options.MaxRetransmit + 1);
            return false;
        }
        finally
        {
            association.ForgetAck(message.MessageId);
        }
    }

    /// <summary>Sends the reply to a message ID and keeps it, so a retransmission of the message gets it again.</summary>
    private static async Task ReplyAsync(CoapAssociation association, ushort messageId, byte[] reply, CancellationToken cancellationToken)
    {
        association.Remember(messageId, reply);
        await association.Sink.SendAsync(reply, cancellationToken);
    }

    private static byte[] Empty(CoapType type, ushort messageId) =>
        new CoapMessage { Type = type, Code = 0, MessageId = messageId }.Serialize();
}
