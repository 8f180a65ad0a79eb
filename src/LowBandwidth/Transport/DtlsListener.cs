using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// CoAP over DTLS 1.2 (RFC 7252 §9) on one UDP socket, the transport MSC3079 specifies. Its receive loop
/// routes each datagram (<see cref="DtlsRoutes"/>) to its session by source address or RFC 9146 connection
/// ID; anything else is answered statelessly (<see cref="StatelessReplies"/>): a ClientHello must carry a valid
/// cookie before any per-peer state exists, and then waits for a handshake slot (<see cref="HandshakeAdmission{TPeer}"/>);
/// an admitted session runs on its <see cref="DtlsAssociationWorker"/> thread.
/// </summary>
/// <remarks>
/// Shutdown: the receive loop and every worker thread, request and observation are tracked, and
/// <see cref="DisposeAsync"/> returns once all of them have ended.
/// </remarks>
internal sealed class DtlsListener : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly AssociationTable<DtlsSession> _associations;
    private readonly LowBandwidthOptions _options;
    private readonly ILogger _logger;
    private readonly DtlsCredentials _credentials;
    private readonly DtlsKeyLog? _keyLog;
    private readonly LowBandwidthMetrics _metrics;
    private readonly HandshakeAdmission<DtlsSession> _handshakes;
    private readonly DtlsRoutes _routes = new();
    private readonly StatelessReplies _replies;
    private readonly DtlsAssociationWorker _worker;
    private readonly BackgroundWork _work = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public DtlsListener(IPEndPoint bind, IOptions<LowBandwidthOptions> options, CoapEndpoint endpoint, TimeProvider time, LowBandwidthMetrics metrics, ILogger logger)
    {
        _options = options.Value;
        _associations = new AssociationTable<DtlsSession>(options, time, session => session.Close("idle"));
        _metrics = metrics;
        _handshakes = new HandshakeAdmission<DtlsSession>(_options, time, metrics, GiveUp);
        _logger = logger;
        var crypto = new BcTlsCrypto(new SecureRandom());
        _credentials = DtlsCredentials.Load(crypto, _options.CertificatePath, _options.KeyPath);

        var keyLogPath = !string.IsNullOrEmpty(_options.KeyLogFile) ? _options.KeyLogFile : Environment.GetEnvironmentVariable("SSLKEYLOGFILE");
        if (!string.IsNullOrEmpty(keyLogPath))
        {
            _keyLog = new DtlsKeyLog(keyLogPath);
        }

        _socket = UdpSockets.Bind(bind);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
        _replies = new StatelessReplies(_socket, crypto, time, logger);
        _worker = new DtlsAssociationWorker(crypto, _credentials, _keyLog, _options, endpoint, _associations, _routes, _handshakes, _work, logger, _stopping.Token);
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Established associations.</summary>
    public int AssociationCount => _associations.Count;

    /// <summary>Peers with per-peer state: handshakes in progress and associations.</summary>
    public int PeerCount => _routes.PeerCount;

    /// <summary>DTLS handshakes in progress.</summary>
    public int HandshakesInProgress => _handshakes.Count;

    /// <summary>Worker threads, requests and observations still running.</summary>
    public int BackgroundTasks => _work.Count;

    public void Start()
    {
        Log.DtlsCredentials(_logger, _credentials.Description, string.Join(", ", _credentials.CipherSuites.Select(s => $"0x{s:X4}")));
        if (_keyLog is not null)
        {
            Log.KeyLogEnabled(_logger, _keyLog.Path);
        }

        Log.Listening(_logger, "CoAP over DTLS (udp)", LocalEndPoint);
        var stopping = _stopping.Token;
        _loop = Task.Run(() => ReceiveLoopAsync(stopping), CancellationToken.None);
    }

    /// <summary>Closes idle associations (with close_notify), renews the cookie secret, forgets old alert times.</summary>
    public void Sweep()
    {
        _associations.Sweep();
        _replies.Sweep();
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
                Log.Malformed(_logger, received.RemoteEndPoint, ex.GetType().Name);
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
        if (DtlsRecords.TryReadConnectionId(datagram, out var connectionId) && _routes.TryGet(connectionId, out var byId))
        {
            byId.Transport.Enqueue(datagram.ToArray(), source);
            return;
        }

        var isClientHello = DtlsRecords.IsClientHello(datagram);
        if (_routes.TryGet(source, out var session))
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
        else
        {
            session = null;
        }

        if (isClientHello)
        {
            Accept(source, datagram.ToArray(), session);
            return;
        }

        if (DtlsRecords.IsRecordOfLostAssociation(datagram))
        {
            _replies.AlertUnknown(source);
        }
    }

    private void Accept(IPEndPoint source, byte[] clientHello, DtlsSession? previous)
    {
        if (_replies.Verify(source, clientHello) is not { } request)
        {
            return;
        }

        if (previous is null && _associations.Count + _handshakes.Count >= _options.MaxAssociations)
        {
            _metrics.HandshakeDropped("association_limit");
            Log.AssociationLimit(_logger, _options.MaxAssociations, source);
            return;
        }

        var session = new DtlsSession(new DtlsPeerTransport(_socket, source), _routes, _logger);
        switch (_handshakes.TryAdmit(session, source.Address))
        {
            case HandshakeAdmissionResult.Full:
                Log.HandshakeLimit(_logger, _options.MaxConcurrentHandshakes, source);
                return;
            case HandshakeAdmissionResult.NetworkLimit:
                Log.HandshakeNetworkLimit(_logger, _options.MaxHandshakesPerSourceNetwork, source);
                return;
        }

        if (previous is not null)
        {
            previous.Close("the client started a new handshake");
            _routes.Forget(previous, source);
        }

        if (!_routes.TryAdd(source, session))
        {
            _handshakes.Complete(session);
            return;
        }

        _worker.Start(session, request);
    }

    /// <summary>Ends a handshake the admission table gave up on; its worker sees the closed transport and finishes.</summary>
    private void GiveUp(DtlsSession session, string reason)
    {
        session.Close(reason);
        _routes.Forget(session);
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));

    /// <summary>Stops listening, closes every association and waits until everything it started has ended (or <paramref name="cancellationToken"/> gives up).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();

        // close_notify to every client, so they reconnect at once instead of timing out against a dead server.
        CloseAll();
        _socket.Dispose();
        await _loop;

        // A ClientHello the loop took just before it stopped may have started a session after the first round.
        CloseAll();
        _handshakes.Dispose();
        await _work.DrainAsync(cancellationToken);

        // Only now: worker threads and tracked tasks read its token until they end.
        _stopping.Dispose();
    }

    private void CloseAll()
    {
        foreach (var session in _routes.Sessions)
        {
            session.Close("shutting down");
        }
    }
}
