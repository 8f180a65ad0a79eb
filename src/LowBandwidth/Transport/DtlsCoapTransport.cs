using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// CoAP over DTLS 1.2 (RFC 7252 §9) on one UDP socket, the transport MSC3079 specifies. The receive loop
/// routes each datagram to its association by source address, or by RFC 9146 connection ID; anything else
/// may be a ClientHello, which must carry a valid HelloVerifyRequest cookie before any per-peer state
/// exists. Handshakes and each association's decryption run on a dedicated thread, because BouncyCastle's
/// DTLS API blocks.
/// </summary>
internal sealed class DtlsCoapTransport : IAsyncDisposable
{
    // RFC 4347 §4.2.1 recommends changing the cookie secret frequently; a client caught by the change
    // just gets another HelloVerifyRequest.
    private static readonly TimeSpan s_verifierLifetime = TimeSpan.FromMinutes(5);

    // At most one unsolicited alert per source address per second, so the listener is no reflector.
    private static readonly TimeSpan s_alertInterval = TimeSpan.FromSeconds(1);
    private const int MaxAlertSources = 4096;

    // Each thread needs little stack: BouncyCastle's handshake and record layer are not deeply recursive.
    private const int ThreadStackBytes = 256 * 1024;

    private readonly Socket _socket;
    private readonly CoapEndpoint _endpoint;
    private readonly AssociationTable<DtlsSession> _associations;
    private readonly LowBandwidthOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly BcTlsCrypto _crypto = new(new SecureRandom());
    private readonly DtlsCredentials _credentials;
    private readonly DtlsKeyLog? _keyLog;
    private readonly LowBandwidthMetrics _metrics;
    private readonly HandshakeAdmission<DtlsSession> _handshakes;
    private readonly ConcurrentDictionary<IPEndPoint, DtlsSession> _byAddress = new();
    private readonly ConcurrentDictionary<ulong, DtlsSession> _byConnectionId = new();
    private readonly ConcurrentDictionary<IPAddress, DateTimeOffset> _lastAlert = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationToken _stoppingToken;
    private DtlsVerifier _verifier;
    private DateTimeOffset _verifierCreated;
    private Task _loop = Task.CompletedTask;

    public DtlsCoapTransport(IPEndPoint bind, IOptions<LowBandwidthOptions> options, CoapEndpoint endpoint, TimeProvider time, LowBandwidthMetrics metrics, ILogger logger)
    {
        _options = options.Value;
        _endpoint = endpoint;
        _associations = new AssociationTable<DtlsSession>(options, time, session => session.Close("idle"));
        _metrics = metrics;
        _handshakes = new HandshakeAdmission<DtlsSession>(_options, time, metrics, GiveUp);
        _stoppingToken = _stopping.Token;
        _time = time;
        _logger = logger;
        _credentials = DtlsCredentials.Load(_crypto, _options.CertificatePath, _options.KeyPath);
        _verifier = new DtlsVerifier(_crypto);
        _verifierCreated = time.GetUtcNow();

        var keyLogPath = !string.IsNullOrEmpty(_options.KeyLogFile) ? _options.KeyLogFile : Environment.GetEnvironmentVariable("SSLKEYLOGFILE");
        if (!string.IsNullOrEmpty(keyLogPath))
        {
            _keyLog = new DtlsKeyLog(keyLogPath);
        }

        _socket = UdpSockets.Bind(bind);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Established associations.</summary>
    public int AssociationCount => _associations.Count;

    /// <summary>Peers with per-peer state: handshakes in progress and associations.</summary>
    public int PeerCount => _byAddress.Count;

    /// <summary>DTLS handshakes in progress.</summary>
    public int HandshakesInProgress => _handshakes.Count;

    public void Start()
    {
        Log.DtlsCredentials(_logger, _credentials.Description, string.Join(", ", _credentials.CipherSuites.Select(s => $"0x{s:X4}")));
        if (_keyLog is not null)
        {
            Log.KeyLogEnabled(_logger, _keyLog.Path);
        }

        Log.Listening(_logger, "CoAP over DTLS (udp)", LocalEndPoint.ToString());
        _loop = Task.Run(() => ReceiveLoopAsync(_stoppingToken));
    }

    /// <summary>Closes idle associations (with close_notify), renews the cookie secret, forgets old alert times.</summary>
    public void Sweep()
    {
        _associations.Sweep();
        var now = _time.GetUtcNow();
        if (now - _verifierCreated > s_verifierLifetime)
        {
            Volatile.Write(ref _verifier, new DtlsVerifier(_crypto));
            _verifierCreated = now;
        }

        foreach (var (address, at) in _lastAlert)
        {
            if (now - at >= s_alertInterval)
            {
                _lastAlert.TryRemove(new KeyValuePair<IPAddress, DateTimeOffset>(address, at));
            }
        }
    }

    private async Task ReceiveLoopAsync(CancellationToken cancellationToken)
    {
        var buffer = new byte[65_536];
        while (!cancellationToken.IsCancellationRequested)
        {
            if (await UdpSockets.ReceiveAsync(_socket, buffer, cancellationToken) is not { } received)
            {
                return;
            }

            try
            {
                Route((IPEndPoint)received.RemoteEndPoint, buffer.AsSpan(0, received.ReceivedBytes));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Whatever a datagram contains, the listener keeps listening.
                Log.Malformed(_logger, received.RemoteEndPoint.ToString() ?? "?", ex.GetType().Name);
            }
        }
    }

    private void Route(IPEndPoint source, ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < DtlsRecords.HeaderLength)
        {
            return;
        }

        // A CID record belongs to the association that issued the CID, whatever address it comes from (RFC 9146 §6).
        if (DtlsRecords.TryReadConnectionId(datagram, out var connectionId) && _byConnectionId.TryGetValue(connectionId, out var byId))
        {
            byId.Transport.Enqueue(datagram.ToArray(), source);
            return;
        }

        var isClientHello = DtlsRecords.IsClientHello(datagram);
        if (_byAddress.TryGetValue(source, out var session))
        {
            // A ClientHello on an established association is a client that lost its state and starts over
            // (RFC 6347 §4.2.8); its handshake replaces the old association once the cookie checks out.
            // During a handshake, ClientHellos are retransmissions and go to the handshake.
            if (!(isClientHello && session.IsEstablished && !session.IsSameClientHello(datagram)))
            {
                if (!isClientHello && !session.IsEstablished)
                {
                    _handshakes.Progress(session);
                }

                session.Transport.Enqueue(datagram.ToArray(), source);
                return;
            }
        }

        if (isClientHello)
        {
            Accept(source, datagram.ToArray(), session);
            return;
        }

        if (DtlsRecords.IsRecordOfLostAssociation(datagram))
        {
            AlertUnknown(source);
        }
    }

    private void Accept(IPEndPoint source, byte[] clientHello, DtlsSession? previous)
    {
        // Stateless until the cookie is valid: a spoofed source costs one HMAC and gets a HelloVerifyRequest
        // no larger than its ClientHello (RFC 6347 §4.2.1), nothing else.
        var request = Volatile.Read(ref _verifier).VerifyRequest(ClientId(source), clientHello, 0, clientHello.Length, new Replier(_socket, source));
        if (request is null)
        {
            return;
        }

        if (previous is null && _associations.Count + _handshakes.Count >= _options.MaxAssociations)
        {
            _metrics.HandshakeDropped("association_limit");
            Log.AssociationLimit(_logger, _options.MaxAssociations, source.ToString());
            return;
        }

        var session = new DtlsSession(this, new DtlsPeerTransport(_socket, source));
        switch (_handshakes.TryAdmit(session, source.Address))
        {
            case HandshakeAdmissionResult.Full:
                Log.HandshakeLimit(_logger, _options.MaxConcurrentHandshakes, source.ToString());
                return;
            case HandshakeAdmissionResult.NetworkLimit:
                Log.HandshakeNetworkLimit(_logger, _options.MaxHandshakesPerSourceNetwork, source.ToString());
                return;
        }

        if (previous is not null)
        {
            previous.Close("the client started a new handshake");
            _byAddress.TryRemove(new KeyValuePair<IPEndPoint, DtlsSession>(source, previous));
        }

        if (!_byAddress.TryAdd(source, session))
        {
            _handshakes.Complete(session);
            return;
        }

        var thread = new Thread(() => Run(session, request), ThreadStackBytes)
        {
            IsBackground = true,
            Name = "DTLS " + source,
        };
        thread.Start();
    }

    private void Run(DtlsSession session, DtlsRequest request)
    {
        try
        {
            RunCore(session, request);
        }
        catch (Exception ex)
        {
            // An exception escaping a thread would end the process; one association is not worth that.
            Log.AssociationClosed(_logger, session.Transport.Remote.ToString(), ex.GetType().Name + ": " + ex.Message);
            session.Close("error");
            _associations.Remove(session);
            Forget(session);
        }
    }

    /// <summary>The whole life of one association, on its own thread: handshake, then decrypt and dispatch.</summary>
    private void RunCore(DtlsSession session, DtlsRequest request)
    {
        var peer = session.Transport.Remote;
        var server = new DtlsCoapServer(_crypto, _credentials, _options.HandshakeTimeout, _keyLog, _logger);
        DtlsTransport dtls;
        try
        {
            dtls = new DtlsServerProtocol().Accept(server, session.Transport, request);
            session.Transport.StopCoalescing();
        }
        catch (Exception ex)
        {
            session.Transport.StopCoalescing();
            Log.HandshakeFailed(_logger, peer.ToString(), session.CloseReason ?? server.AlertReason ?? ex.Message);
            session.Transport.Close();
            Forget(session);
            return;
        }
        finally
        {
            _handshakes.Complete(session);
        }

        var association = _endpoint.CreateAssociation(peer, session);
        session.Established(dtls, association, server.ClientRandom);
        if (!_associations.TryAdd(session, association))
        {
            Log.AssociationLimit(_logger, _options.MaxAssociations, peer.ToString());
            session.Close("association limit");
            Forget(session);
            return;
        }

        if (server.ConnectionId is { } cid)
        {
            session.ConnectionId = DtlsRecords.ConnectionIdKey(cid);
            _byConnectionId.TryAdd(session.ConnectionId.Value, session);
        }

        Log.HandshakeCompleted(_logger, peer.ToString(), server.NegotiatedCipherSuite, server.ConnectionId is { } id ? Convert.ToHexString(id) : "none");
        var reason = ReceiveLoop(session, dtls, association);
        Log.AssociationClosed(_logger, association.Peer.ToString(), session.CloseReason ?? server.AlertReason ?? reason);
        session.Close(reason);
        _associations.Remove(session);
        Forget(session);
    }

    private string ReceiveLoop(DtlsSession session, DtlsTransport dtls, CoapAssociation association)
    {
        var buffer = new byte[dtls.GetReceiveLimit()];
        var cancellationToken = _stoppingToken;
        while (!cancellationToken.IsCancellationRequested)
        {
            int length;
            try
            {
                length = dtls.Receive(buffer, 0, buffer.Length, 0, session.OnRecord);
            }
            catch (TlsFatalAlertReceived ex)
            {
                return "received fatal alert " + AlertDescription.GetText(ex.AlertDescription);
            }
            catch (Exception) when (session.Transport.IsClosed)
            {
                // close_notify from the client, an idle sweep, or shutdown closed the transport under Receive.
                return "closed";
            }
            catch (Exception ex)
            {
                return ex.Message;
            }

            if (length < 0)
            {
                continue;
            }

            var datagram = buffer.AsSpan(0, length).ToArray();

            // Each datagram is handled on its own, so a slow homeserver answer never holds up the association.
            _ = _endpoint.ProcessAsync(association, datagram, cancellationToken);
        }

        return "shutting down";
    }

    /// <summary>Called on the association's thread for each authenticated record (see <see cref="DtlsSession.OnRecord"/>).</summary>
    private void Moved(DtlsSession session, IPEndPoint from, IPEndPoint to)
    {
        Log.PeerMoved(_logger, from.ToString(), to.ToString());
        _byAddress.TryRemove(new KeyValuePair<IPEndPoint, DtlsSession>(from, session));
        _byAddress[to] = session;
    }

    /// <summary>Ends a handshake the admission table gave up on; its thread sees the closed transport and finishes.</summary>
    private void GiveUp(DtlsSession session, string reason)
    {
        session.Close(reason);
        Forget(session);
    }

    private void Forget(DtlsSession session)
    {
        _byAddress.TryRemove(new KeyValuePair<IPEndPoint, DtlsSession>(session.Transport.Remote, session));
        if (session.ConnectionId is { } cid)
        {
            _byConnectionId.TryRemove(new KeyValuePair<ulong, DtlsSession>(cid, session));
        }
    }

    private void AlertUnknown(IPEndPoint source)
    {
        var now = _time.GetUtcNow();
        var address = source.Address;
        if (_lastAlert.TryGetValue(address, out var last) && now - last < s_alertInterval)
        {
            return;
        }

        if (_lastAlert.Count >= MaxAlertSources && !_lastAlert.ContainsKey(address))
        {
            // Many sources at once looks like a spoofing flood: stay silent rather than keep state for it.
            return;
        }

        _lastAlert[address] = now;
        Log.UnknownAssociation(_logger, source.ToString());
        try
        {
            _socket.SendTo(DtlsRecords.FatalAlert((byte)AlertDescription.unexpected_message), SocketFlags.None, source);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>The cookie binds the ClientHello to the address and port it came from.</summary>
    private static byte[] ClientId(IPEndPoint source)
    {
        var address = source.Address.IsIPv4MappedToIPv6 ? source.Address.MapToIPv4() : source.Address;
        var id = new byte[(address.AddressFamily == AddressFamily.InterNetwork ? 4 : 16) + 2];
        address.TryWriteBytes(id, out var written);
        BinaryPrimitives.WriteUInt16BigEndian(id.AsSpan(written), (ushort)source.Port);
        return id;
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();

        // close_notify to every client, so they reconnect at once instead of timing out against a dead server.
        foreach (var session in _byAddress.Values.Distinct())
        {
            session.Close("shutting down");
        }

        _socket.Dispose();
        await _loop;
        _handshakes.Dispose();

        // _stopping is not disposed: association threads may still be finishing and read its token.
    }

    /// <summary>Sends the HelloVerifyRequest for <see cref="DtlsVerifier"/> without creating per-peer state.</summary>
    private sealed class Replier(Socket socket, IPEndPoint peer) : DatagramSender
    {
        public int GetSendLimit() => 1232;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            try
            {
                socket.SendTo(buffer, SocketFlags.None, peer);
            }
            catch (SocketException)
            {
            }
        }
    }

    /// <summary>One peer, from a verified ClientHello to the end of its association; also the association's sink.</summary>
    internal sealed class DtlsSession : IDatagramSink
    {
        private readonly DtlsCoapTransport _owner;
        private volatile DtlsTransport? _dtls;
        private CoapAssociation? _association;
        private byte[]? _clientRandom;

        public DtlsSession(DtlsCoapTransport owner, DtlsPeerTransport transport)
        {
            _owner = owner;
            Transport = transport;
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
        /// BouncyCastle calls this for each authenticated record. The address moves only for the newest
        /// record carrying our connection ID: a replayed or delayed record from an old address must not
        /// steer our answers there (RFC 9146 §6).
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

            _owner.Moved(this, current, source);
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
                // The association failed or closed; its receive thread notices and cleans up.
            }

            return ValueTask.CompletedTask;
        }

        /// <summary>Sends close_notify (once established) and wakes the association's thread so it ends.</summary>
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
}
