using System.Net;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>One peer, from a verified ClientHello to the end of its association; also the association's sink.</summary>
internal sealed class DtlsSession : IDatagramSink
{
    private readonly DtlsRoutes _routes;
    private readonly ILogger _logger;
    private volatile DtlsTransport? _dtls;
    private CoapAssociation? _association;
    private byte[]? _clientRandom;

    public DtlsSession(DtlsPeerTransport transport, DtlsRoutes routes, ILogger logger)
    {
        Transport = transport;
        _routes = routes;
        _logger = logger;
    }

    public DtlsPeerTransport Transport { get; }

    public bool IsEstablished => _dtls is not null;

    public ulong? ConnectionId { get; set; }

    public string? CloseReason { get; private set; }

    public void Established(DtlsTransport dtls, CoapAssociation association, byte[]? clientRandom)
    {
        _association = association;
        _clientRandom = clientRandom;
        _dtls = dtls;
    }

    /// <summary>
    /// True for a late duplicate of the ClientHello that started this association (the network duplicated
    /// it, or the client retransmitted it just before our flight arrived): it must not replace the
    /// association the client is using. Its random (after the 13-byte record and 12-byte handshake
    /// headers and the 2-byte version) tells.
    /// </summary>
    public bool IsSameClientHello(ReadOnlySpan<byte> clientHello) =>
        _clientRandom is { } random && clientHello.Length >= 27 + 32 && clientHello.Slice(27, 32).SequenceEqual(random);

    /// <summary>
    /// BouncyCastle calls this for each authenticated record, on the association's worker thread. The address
    /// moves only for the newest record carrying our connection ID: a replayed or delayed record from an old
    /// address must not steer our answers there (RFC 9146 §6).
    /// </summary>
    public void OnRecord(DtlsRecordFlags flags)
    {
        var source = Transport.LastSource;
        var current = Transport.Remote;
        if (source is null || source.Equals(current) || (flags & (DtlsRecordFlags.IsNewest | DtlsRecordFlags.UsesConnectionID)) != (DtlsRecordFlags.IsNewest | DtlsRecordFlags.UsesConnectionID))
        {
            return;
        }

        Transport.Remote = source;
        if (_association is not null)
        {
            _association.Peer = source;
        }

        Log.PeerMoved(_logger, current, source);
        _routes.Move(this, current, source);
    }

    public ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
    {
        var dtls = _dtls;
        if (dtls is null || Transport.IsClosed)
        {
            return ValueTask.CompletedTask;
        }

        try
        {
            // Encrypting and one sendto: quick enough to do inline; the record layer serialises writers.
            dtls.Send(datagram.Span);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
            // The association failed or closed; its worker notices and cleans up.
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>Sends close_notify (once established) and wakes the association's worker so it ends.</summary>
    public void Close(string reason)
    {
        CloseReason ??= reason;
        try
        {
            _dtls?.Close();
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException)
        {
        }

        Transport.Close();
    }
}
