using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Server;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// CoAP straight over UDP (RFC 7252 without DTLS): one association per peer address. For tests with
/// independent CoAP clients and for deployments with a DTLS terminator in front; never for the Internet.
/// </summary>
internal sealed class PlainCoapTransport : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CoapEndpoint _endpoint;
    private readonly AssociationTable<IPEndPoint> _associations;
    private readonly ILogger _logger;
    private readonly BackgroundWork _work = new();
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public PlainCoapTransport(IPEndPoint bind, CoapEndpoint endpoint, AssociationTable<IPEndPoint> associations, ILogger logger)
    {
        _endpoint = endpoint;
        _associations = associations;
        _logger = logger;
        _socket = UdpSockets.Bind(bind);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    /// <summary>Requests and observations still running.</summary>
    public int BackgroundTasks => _work.Count;

    public void Start()
    {
        Log.Listening(_logger, "plain CoAP (udp)", LocalEndPoint);
        var stopping = _stopping.Token;
        _loop = Task.Run(() => ReceiveLoopAsync(stopping), CancellationToken.None);
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

            var peer = (IPEndPoint)received.RemoteEndPoint;
            if (!_associations.TryGet(peer, out var association))
            {
                association = _endpoint.CreateAssociation(peer, new Sink(_socket, peer), _work);
                if (!_associations.TryAdd(peer, association) && !_associations.TryGet(peer, out association))
                {
                    Log.AssociationLimit(_logger, _associations.Count, peer);
                    continue;
                }
            }

            // Each datagram is handled on its own, so a slow homeserver answer never holds up the socket.
            _endpoint.Dispatch(association, buffer.AsSpan(0, received.ReceivedBytes).ToArray(), cancellationToken);
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));

    /// <summary>Stops listening and waits until every request and observation it started has ended (or <paramref name="cancellationToken"/> gives up).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync();
        _socket.Dispose();
        await _loop;
        await _work.DrainAsync(cancellationToken);

        // Only now: tracked tasks read its token until they end.
        _stopping.Dispose();
    }

    private sealed class Sink(Socket socket, IPEndPoint peer) : IDatagramSink
    {
        public async ValueTask SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken)
        {
            try
            {
                await socket.SendToAsync(datagram, SocketFlags.None, peer, cancellationToken);
            }
            catch (SocketException)
            {
                // The peer is gone; CoAP's own retransmission and timeouts deal with it.
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
