using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// A remote that answers every request with <c>101 Switching Protocols</c>, whatever it asked for, and then
/// sends bytes of another protocol — what a proxy must never relay. Kestrel cannot stand in here: it only
/// sends 101 to requests that asked for an upgrade. Records each request head, and whether any byte
/// arrived after it (a proxy that had turned the connection into a pipe would pass the client's on).
/// </summary>
public sealed class SwitchingUpstream : IAsyncDisposable
{
    /// <summary>What the remote sends right after its 101.</summary>
    public const string AfterSwitch = "UNCHECKED-PROTOCOL-BYTES";

    private readonly TcpListener _listener;
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<string> _heads = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _accepting;
    private int _bytesAfterHeads;

    private SwitchingUpstream(X509Certificate2? certificate)
    {
        _certificate = certificate;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Request heads received, as text.</summary>
    public IReadOnlyCollection<string> Heads => _heads;

    /// <summary>Bytes received after a request head (nothing should follow a request without a body).</summary>
    public int BytesAfterHeads => Volatile.Read(ref _bytesAfterHeads);

    /// <param name="certificate">Serve TLS with this certificate instead of plain TCP.</param>
    public static SwitchingUpstream Start(X509Certificate2? certificate = null) => new(certificate);

    public IReadOnlyList<string> WithTestId(string testId) =>
        _heads.Where(h => h.Contains($"{RecordingUpstream.TestIdHeader}: {testId}\r\n", StringComparison.OrdinalIgnoreCase)).ToList();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        await _accepting.ContinueWith(_ => { }, TaskScheduler.Default);
        await Task.WhenAll(_connections).ContinueWith(_ => { }, TaskScheduler.Default);
        _stopping.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stopping.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            Stream stream = client.GetStream();
            if (_certificate is not null)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                {
                    ServerCertificate = _certificate,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
                }, _stopping.Token);
                stream = tls;
            }

            await using (stream)
            {
                var head = new StringBuilder();
                var one = new byte[1];
                while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && head.Length < 64 * 1024)
                {
                    if (await stream.ReadAsync(one, _stopping.Token) == 0)
                    {
                        return;
                    }

                    head.Append((char)one[0]);
                }

                _heads.Enqueue(head.ToString());
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n{AfterSwitch}"), _stopping.Token);
                await stream.FlushAsync(_stopping.Token);

                var buffer = new byte[4096];
                int read;
                while ((read = await stream.ReadAsync(buffer, _stopping.Token)) > 0)
                {
                    Interlocked.Add(ref _bytesAfterHeads, read);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // The proxy closed its side, or the test ended.
        }
    }
}
