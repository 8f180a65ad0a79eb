using System.Net;
using System.Net.Sockets;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// Ports for listeners a test names before they start (child processes, Synapse, PostgreSQL, "nobody listens
/// here" addresses). Asking the kernel for port 0 and closing the socket again hands out a port of the ephemeral
/// range, which the next outgoing connection of any process may take before the listener binds it: Synapse then
/// dies with "Address already in use". These ports come from below the ephemeral range instead, each at most once
/// per test process, and only when nothing is bound to them at the time.
/// </summary>
public static class LoopbackPorts
{
    private const int First = 10000;

    // The kernel's range does not change while the tests run: read once.
    private static readonly int s_span = EphemeralStart() - First;

    // Several test processes may run at once (two checkouts): each starts at its own place in the range.
    private static int s_offset = Environment.ProcessId * 389;

    /// <summary>A TCP port on 127.0.0.1 that nothing listens on now and that no other caller in this process gets.</summary>
    public static int Tcp() => Next(SocketType.Stream, ProtocolType.Tcp);

    /// <summary>A UDP port on 127.0.0.1 that nothing is bound to now and that no other caller in this process gets.</summary>
    public static int Udp() => Next(SocketType.Dgram, ProtocolType.Udp);

    private static int Next(SocketType type, ProtocolType protocol)
    {
        for (var attempt = 0; attempt < s_span; attempt++)
        {
            var port = First + (int)((uint)Interlocked.Increment(ref s_offset) % (uint)s_span);
            using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
            try
            {
                socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressAlreadyInUse or SocketError.AccessDenied)
            {
            }
        }

        throw new InvalidOperationException($"no free loopback port between {First} and {First + s_span}");
    }

    /// <summary>The kernel's first ephemeral port (32768 when it cannot be read).</summary>
    private static int EphemeralStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'], StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0], System.Globalization.CultureInfo.InvariantCulture) is var start and > First + 1000 ? start : 32768;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32768;
        }
    }
}
