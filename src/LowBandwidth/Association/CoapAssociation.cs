using System.Net;
using System.Security.Cryptography;
using MessengerProxy.LowBandwidth.Server;

namespace MessengerProxy.LowBandwidth.Association;

/// <summary>
/// One client association (a DTLS association, or a UDP peer in plain mode) and everything MSC3079 makes
/// sticky for it: the access token and the CBOR key version. Its CoAP state is in parts, each with its own
/// lock: <see cref="Exchanges"/> (deduplication), <see cref="Confirmables"/> (our CONs awaiting ACK),
/// <see cref="Uploads"/> (Block1), <see cref="Answers"/> (Block2), <see cref="Observations"/> (Observe).
/// </summary>
internal sealed class CoapAssociation
{
    private int _nextMessageId = RandomNumberGenerator.GetInt32(ushort.MaxValue + 1);
    private int _requestsInFlight;

    /// <param name="budget">Holds the memory of this association's uploads and kept answers, shared with every other association.</param>
    /// <param name="work">The transport's background work, where this association's requests and observations run.</param>
    public CoapAssociation(IPEndPoint peer, IDatagramSink sink, BodyBudget budget, CoapTransmission transmission, TimeProvider time, BackgroundWork work)
    {
        Peer = peer;
        Sink = sink;
        Work = work;
        LastActivity = time.GetUtcNow();
        Confirmables = new ConfirmableSender(sink, transmission, time);
        Uploads = new Block1Assembler(budget);
        Answers = new Block2Cache(budget);
    }

    /// <summary>The peer's current address (it may change with a DTLS Connection ID).</summary>
    public IPEndPoint Peer { get; set; }

    public IDatagramSink Sink { get; }

    public BackgroundWork Work { get; }

    public DateTimeOffset LastActivity { get; set; }

    /// <summary>MSC3079 option 256, remembered for the association.</summary>
    public string? AccessToken { get; set; }

    /// <summary>MSC3079 option 257 (or integer keys seen in a body): the key table version for answers; 0 = text keys.</summary>
    public int CborVersion { get; set; }

    public ExchangeCache Exchanges { get; } = new();

    public ConfirmableSender Confirmables { get; }

    public Block1Assembler Uploads { get; }

    public Block2Cache Answers { get; }

    public ObservationSet Observations { get; } = new();

    public ushort NextMessageId() => (ushort)Interlocked.Increment(ref _nextMessageId);

    /// <summary>Takes one of the association's request slots; false when all are busy.</summary>
    public bool TryStartRequest(int limit)
    {
        if (Interlocked.Increment(ref _requestsInFlight) <= limit)
        {
            return true;
        }

        Interlocked.Decrement(ref _requestsInFlight);
        return false;
    }

    public void EndRequest() => Interlocked.Decrement(ref _requestsInFlight);

    /// <summary>Ends observations, fails every confirmable message still waiting and frees kept bodies, when the association goes away.</summary>
    public void Close()
    {
        Observations.Clear();
        Confirmables.Close();
        Answers.Clear();
        Uploads.Clear();
    }
}
