using System.Net;
using System.Net.Sockets;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>What both UDP listeners (DTLS and plain) do with their socket.</summary>
internal static class UdpSockets
{
    /// <summary>A UDP socket bound to <paramref name="bind"/>; dual-stack when bound to an IPv6 address.</summary>
    public static Socket Bind(IPEndPoint bind)
    {
        var socket = new Socket(bind.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        if (bind.AddressFamily == AddressFamily.InterNetworkV6)
        {
            socket.DualMode = true;
        }

        socket.Bind(bind);
        return socket;
    }

    /// <summary>The next datagram; null once the listener is shutting down.</summary>
    public static async ValueTask<SocketReceiveFromResult?> ReceiveAsync(Socket socket, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        EndPoint any = new IPEndPoint(socket.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        while (true)
        {
            try
            {
                return await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return null;
            }
            catch (SocketException)
            {
                // ICMP port unreachable from an earlier send and the like: not fatal for the listener.
            }
        }
    }
}
