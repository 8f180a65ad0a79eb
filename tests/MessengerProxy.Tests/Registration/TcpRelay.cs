using System.Net;
using System.Net.Sockets;

namespace MessengerProxy.Tests.Registration;

/// <summary>
/// A loopback TCP relay in front of the test PostgreSQL server, so a test can take the database away from a
/// running service (the port closes and every open connection is reset, as when the server stops) and bring
/// it back on the same port, without stopping the server the other test classes share.
/// </summary>
internal sealed class TcpRelay : IAsyncDisposable
{
    private readonly IPEndPoint _target;
    private readonly Lock _lock = new();
    private readonly List<Socket> _open = [];
    private readonly List<Task> _tasks = [];
    private TcpListener? _listener;

    private TcpRelay(IPEndPoint target) => _target = target;

    public int Port { get; private set; }

    public static TcpRelay Start(string host, int port)
    {
        var relay = new TcpRelay(new IPEndPoint(IPAddress.Parse(host), port));
        relay.Open(0);
        return relay;
    }

    /// <summary>Closes the port and resets every relayed connection.</summary>
    public async Task StopAsync()
    {
        Task[] tasks;
        lock (_lock)
        {
            _listener?.Stop();
            _listener = null;
            foreach (var socket in _open)
            {
                // Linger 0: the peer sees a reset, as from a server that went away, not an orderly close.
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }

            _open.Clear();
            tasks = [.. _tasks];
        }

        await Task.WhenAll(tasks);
    }

    /// <summary>Opens the same port again.</summary>
    public void Resume() => Open(Port);

    public async ValueTask DisposeAsync() => await StopAsync();

    private void Open(int port)
    {
        lock (_lock)
        {
            if (_listener is not null)
            {
                return;
            }

            var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Start();
            _listener = listener;
            Port = ((IPEndPoint)listener.LocalEndpoint).Port;
            _tasks.Add(Task.Run(() => AcceptLoopAsync(listener)));
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener)
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await listener.AcceptSocketAsync();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
            lock (_lock)
            {
                if (_listener != listener)
                {
                    client.Close();
                    server.Close();
                    return;
                }

                _open.Add(client);
                _open.Add(server);
                _tasks.Add(Task.Run(() => RelayAsync(client, server)));
            }
        }
    }

    private async Task RelayAsync(Socket client, Socket server)
    {
        try
        {
            await server.ConnectAsync(_target);
            await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client));
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_lock)
            {
                _open.Remove(client);
                _open.Remove(server);
            }

            client.Close();
            server.Close();
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }
}
