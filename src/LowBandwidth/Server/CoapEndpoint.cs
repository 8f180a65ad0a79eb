using System.Net;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Mapping;
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
    private readonly CoapRequestHandler _handler;
    private readonly CoapHttpTranslator _translator;
    private readonly SyncObserver _observer;
    private readonly LowBandwidthOptions _options;
    private readonly CoapTransmission _transmission;
    private readonly TimeProvider _time;
    private readonly BodyBudget _budget;
    private readonly ILogger _logger;

    public CoapEndpoint(CoapRequestHandler handler, CoapHttpTranslator translator, SyncObserver observer, IOptions<LowBandwidthOptions> options, TimeProvider time, BodyBudget budget, ILogger<CoapEndpoint> logger)
    {
        _handler = handler;
        _translator = translator;
        _budget = budget;
        _observer = observer;
        _options = options.Value;
        _transmission = new CoapTransmission(_options.AckTimeout, _options.MaxRetransmit);
        _time = time;
        _logger = logger;
    }

    /// <summary>A new association of a transport, its bodies held under the budget shared by all, its work tracked by the transport.</summary>
    public CoapAssociation CreateAssociation(IPEndPoint peer, IDatagramSink sink, BackgroundWork work) => new(peer, sink, _budget, _transmission, _time, work);

    /// <summary>Handles one datagram of an association on the association's background work.</summary>
    public void Dispatch(CoapAssociation association, ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken) =>
        association.Work.Track(ProcessAsync(association, datagram, cancellationToken));

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
            Log.UnhandledError(_logger, association.Peer, ex);
        }
    }

    private async Task ProcessCoreAsync(CoapAssociation association, ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        association.LastActivity = _time.GetUtcNow();
        var error = CoapMessage.TryParse(datagram, out var message);
        if (error != CoapFormatError.None)
        {
            Log.Malformed(_logger, association.Peer, error);

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
                association.Confirmables.Complete(message.MessageId, message.Type == CoapType.Acknowledgement);
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

        if (!association.Exchanges.TryBegin(message.MessageId, _time.GetUtcNow(), out var previous))
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
        var register = false;
        var observe = started && _observer.IsSyncObserve(message, out register);
        if (!started)
        {
            work = Task.FromResult(_translator.Overloaded(association));
        }
        else if (observe && register)
        {
            work = _observer.RegisterAsync(association, message, cancellationToken);
        }
        else
        {
            if (observe)
            {
                _observer.Deregister(association, message);
            }

            work = _handler.HandleAsync(association, message, cancellationToken);
        }

        if (started)
        {
            work = ReleaseWhenDone(association, work);
        }

        // The answer is worked on whatever happens to this exchange (e.g. shutdown cancels the wait for it): tracked on its own.
        association.Work.Track(work);

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
        if (await association.Confirmables.SendAsync(separate, cancellationToken) == ConfirmableOutcome.Unanswered)
        {
            Log.Unacknowledged(_logger, association.Peer, _options.MaxRetransmit + 1);
        }
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

    /// <summary>Sends the reply to a message ID and keeps it, so a retransmission of the message gets it again.</summary>
    private static async Task ReplyAsync(CoapAssociation association, ushort messageId, byte[] reply, CancellationToken cancellationToken)
    {
        association.Exchanges.Remember(messageId, reply);
        await association.Sink.SendAsync(reply, cancellationToken);
    }

    private static byte[] Empty(CoapType type, ushort messageId) =>
        new CoapMessage { Type = type, Code = CoapCodes.Empty, MessageId = messageId }.Serialize();
}
