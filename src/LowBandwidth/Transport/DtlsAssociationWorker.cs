using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// The whole life of one DTLS association on its own thread: the handshake, then decrypting records and
/// handing each datagram to the CoAP endpoint. BouncyCastle's DTLS API blocks, so this is the front door's only
/// blocking code; everything after a datagram is decrypted is asynchronous, on the transport's background work.
/// </summary>
internal sealed class DtlsAssociationWorker
{
    // Each thread needs little stack: BouncyCastle's handshake and record layer are not deeply recursive.
    private const int ThreadStackBytes = 256 * 1024;

    private readonly BcTlsCrypto _crypto;
    private readonly DtlsCredentials _credentials;
    private readonly DtlsKeyLog? _keyLog;
    private readonly LowBandwidthOptions _options;
    private readonly CoapEndpoint _endpoint;
    private readonly AssociationTable<DtlsSession> _associations;
    private readonly DtlsRoutes _routes;
    private readonly HandshakeAdmission<DtlsSession> _handshakes;
    private readonly BackgroundWork _work;
    private readonly ILogger _logger;
    private readonly CancellationToken _stopping;

    public DtlsAssociationWorker(
        BcTlsCrypto crypto,
        DtlsCredentials credentials,
        DtlsKeyLog? keyLog,
        LowBandwidthOptions options,
        CoapEndpoint endpoint,
        AssociationTable<DtlsSession> associations,
        DtlsRoutes routes,
        HandshakeAdmission<DtlsSession> handshakes,
        BackgroundWork work,
        ILogger logger,
        CancellationToken stopping)
    {
        _crypto = crypto;
        _credentials = credentials;
        _keyLog = keyLog;
        _options = options;
        _endpoint = endpoint;
        _associations = associations;
        _routes = routes;
        _handshakes = handshakes;
        _work = work;
        _logger = logger;
        _stopping = stopping;
    }

    /// <summary>Starts the session's thread; it is tracked on the background work and ends when the session closes.</summary>
    public void Start(DtlsSession session, DtlsRequest request)
    {
        var ended = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() => Run(session, request, ended), ThreadStackBytes)
        {
            IsBackground = true,
            Name = "DTLS " + session.Transport.Remote,
        };
        _work.Track(ended.Task);
        thread.Start();
    }

    private void Run(DtlsSession session, DtlsRequest request, TaskCompletionSource ended)
    {
        try
        {
            RunCore(session, request);
        }
        catch (Exception ex)
        {
            // An exception escaping a thread would end the process; one association is not worth that.
            Log.AssociationClosed(_logger, session.Transport.Remote, ex.GetType().Name + ": " + ex.Message);
            session.Close("error");
            _associations.Remove(session);
            _routes.Forget(session);
        }
        finally
        {
            ended.SetResult();
        }
    }

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
            Log.HandshakeFailed(_logger, peer, session.CloseReason ?? server.AlertReason ?? ex.Message);
            session.Transport.Close();
            _routes.Forget(session);
            return;
        }
        finally
        {
            _handshakes.Complete(session);
        }

        var association = _endpoint.CreateAssociation(peer, session, _work);
        session.Established(dtls, association, server.ClientRandom);
        if (!_associations.TryAdd(session, association))
        {
            Log.AssociationLimit(_logger, _options.MaxAssociations, peer);
            session.Close("association limit");
            _routes.Forget(session);
            return;
        }

        if (server.ConnectionId is { } cid)
        {
            session.ConnectionId = DtlsRecords.ConnectionIdKey(cid);
            _routes.AddConnectionId(session.ConnectionId.Value, session);
        }

        Log.HandshakeCompleted(_logger, peer, server.NegotiatedCipherSuite, server.ConnectionId is { } id ? Convert.ToHexString(id) : "none");
        var reason = ReceiveLoop(session, dtls, association);
        Log.AssociationClosed(_logger, association.Peer, session.CloseReason ?? server.AlertReason ?? reason);
        session.Close(reason);
        _associations.Remove(session);
        _routes.Forget(session);
    }

    private string ReceiveLoop(DtlsSession session, DtlsTransport dtls, CoapAssociation association)
    {
        var buffer = new byte[dtls.GetReceiveLimit()];
        while (!_stopping.IsCancellationRequested)
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

            // Each datagram is handled on its own, so a slow homeserver answer never holds up the association.
            _endpoint.Dispatch(association, buffer.AsSpan(0, length).ToArray(), _stopping);
        }

        return "shutting down";
    }
}
