using System.Net;
using System.Net.Sockets;
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
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    public PlainCoapTransport(IPEndPoint bind, CoapEndpoint endpoint, AssociationTable<IPEndPoint> associations, TimeProvider time, ILogger logger)
    {
        _endpoint = endpoint;
        _associations = associations;
        _time = time;
        _logger = logger;
        _socket = UdpSockets.Bind(bind);
        LocalEndPoint = (IPEndPoint)_socket.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }

    public void Start()
    {
        Log.Listening(_logger, "plain CoAP (udp)", LocalEndPoint.ToString());
        _loop = Task.Run(() => ReceiveLoopAsync(_stopping.Token));
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
                association = _endpoint.CreateAssociation(peer, new Sink(_socket, peer));
                if (!_associations.TryAdd(peer, association) && !_associations.TryGet(peer, out association))
                {
                    Log.AssociationLimit(_logger, _associations.Count, peer.ToString());
                    continue;
                }
            }

            var datagram = buffer.AsSpan(0, received.ReceivedBytes).ToArray();

            // Each datagram is handled on its own, so a slow homeserver answer never holds up the socket.
            _ = _endpoint.ProcessAsync(association, datagram, cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _socket.Dispose();
        await _loop;
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
