using System.Security.Cryptography;
using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.LowBandwidth.Association;

/// <summary>RFC 7252 §4.8 transmission parameters of confirmable messages.</summary>
internal readonly record struct CoapTransmission(TimeSpan AckTimeout, int MaxRetransmit);

/// <summary>How a confirmable message fared.</summary>
internal enum ConfirmableOutcome
{
    Acknowledged,

    /// <summary>The peer answered with RST (RFC 7252 §4.2): it does not want it.</summary>
    Reset,

    /// <summary>No ACK or RST after MAX_RETRANSMIT retransmissions.</summary>
    Unanswered,

    /// <summary>The association closed before an answer came.</summary>
    Closed,
}

/// <summary>
/// An association's confirmable messages (separate responses, notifications): each is retransmitted with
/// exponential backoff (RFC 7252 §4.2) until its ACK or RST arrives or the attempts run out.
/// </summary>
internal sealed class ConfirmableSender
{
    private readonly Dictionary<ushort, TaskCompletionSource<ConfirmableOutcome>> _awaitingAck = [];
    private readonly Lock _gate = new();
    private readonly IDatagramSink _sink;
    private readonly CoapTransmission _transmission;
    private readonly TimeProvider _time;
    private bool _closed;

    public ConfirmableSender(IDatagramSink sink, CoapTransmission transmission, TimeProvider time)
    {
        _sink = sink;
        _transmission = transmission;
        _time = time;
    }

    /// <summary>Sends a CON, retransmitting it until ACK or RST, the attempts run out or the association closes.</summary>
    public async Task<ConfirmableOutcome> SendAsync(CoapMessage message, CancellationToken cancellationToken)
    {
        var completion = new TaskCompletionSource<ConfirmableOutcome>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_closed)
            {
                return ConfirmableOutcome.Closed;
            }

            _awaitingAck[message.MessageId] = completion;
        }

        var bytes = message.Serialize();
        var acknowledged = completion.Task;

        // The initial timeout is random in [ACK_TIMEOUT, ACK_TIMEOUT · ACK_RANDOM_FACTOR], so peers do not retransmit in step.
        var timeout = _transmission.AckTimeout * (1 + (RandomNumberGenerator.GetInt32(1000) / 2000.0));
        try
        {
            for (var attempt = 0; attempt <= _transmission.MaxRetransmit; attempt++)
            {
                await _sink.SendAsync(bytes, cancellationToken);
                if (await Task.WhenAny(acknowledged, Task.Delay(timeout, _time, cancellationToken)) == acknowledged)
                {
                    return await acknowledged;
                }

                timeout *= 2;
            }

            return ConfirmableOutcome.Unanswered;
        }
        finally
        {
            lock (_gate)
            {
                _awaitingAck.Remove(message.MessageId);
            }
        }
    }

    /// <summary>An ACK (true) or RST (false) for one of our confirmable messages; false when none waits for it.</summary>
    public bool Complete(ushort messageId, bool acknowledged)
    {
        lock (_gate)
        {
            if (_awaitingAck.Remove(messageId, out var completion))
            {
                completion.TrySetResult(acknowledged ? ConfirmableOutcome.Acknowledged : ConfirmableOutcome.Reset);
                return true;
            }
        }

        return false;
    }

    /// <summary>Fails every message still waiting, and any sent later: the association is gone.</summary>
    public void Close()
    {
        lock (_gate)
        {
            _closed = true;
            foreach (var completion in _awaitingAck.Values)
            {
                completion.TrySetResult(ConfirmableOutcome.Closed);
            }

            _awaitingAck.Clear();
        }
    }
}
