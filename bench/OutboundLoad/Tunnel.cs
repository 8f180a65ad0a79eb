using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace MessengerProxy.OutboundLoad;

/// <summary>
/// One client connection: TCP to the proxy (or the target), optionally CONNECT, then TLS with the target's
/// name, then HTTP/1.1 requests over it. Reads whole responses (Content-Length, chunked or close-delimited).
/// </summary>
public sealed class Tunnel : IAsyncDisposable
{
    private const int BufferSize = 16 * 1024;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();

    private readonly Socket _socket;
    private readonly SslStream _tls;
    private readonly byte[] _buffer = new byte[BufferSize];
    private int _start;
    private int _end;

    private Tunnel(Socket socket, SslStream tls)
    {
        _socket = socket;
        _tls = tls;
    }

    /// <summary>True once the server said it will close the connection after the last response.</summary>
    public bool ServerClosing { get; private set; }

    /// <summary>Opens a connection to <paramref name="host"/>:<paramref name="port"/> and completes the TLS handshake.</summary>
    public static async Task<Tunnel> OpenAsync(Target target, string host, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? tls = null;
        try
        {
            await socket.ConnectAsync(target.Proxy ?? new IPEndPoint(target.ConnectAddress, target.Port), cancellationToken).ConfigureAwait(false);
            var network = new NetworkStream(socket, ownsSocket: false);
            if (target.Proxy is not null)
            {
                await ConnectThroughProxyAsync(network, target.TunnelHost ?? host, target.Port, cancellationToken).ConfigureAwait(false);
            }
            tls = new SslStream(network, leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(target.TlsOptions(host), cancellationToken).ConfigureAwait(false);
            return new Tunnel(socket, tls);
        }
        catch
        {
            if (tls is not null)
            {
                await tls.DisposeAsync().ConfigureAwait(false);
            }
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one prepared request and reads the whole response; returns its status code.</summary>
    public async Task<int> SendAsync(ReadOnlyMemory<byte> request, CancellationToken cancellationToken)
    {
        await _tls.WriteAsync(request, cancellationToken).ConfigureAwait(false);
        return await ReadResponseAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    private static async Task ConnectThroughProxyAsync(NetworkStream stream, string host, int port, CancellationToken cancellationToken)
    {
        var authority = host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
        var connect = Encoding.ASCII.GetBytes($"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        await stream.WriteAsync(connect, cancellationToken).ConfigureAwait(false);

        // Read byte-wise up to the end of the head: nothing of the TLS stream may be consumed here
        // (the server speaks only after the client hello, so this costs a few small reads at most).
        var head = new byte[4096];
        var length = 0;
        while (length < 4 || !head.AsSpan(length - 4, 4).SequenceEqual(HeadEnd))
        {
            if (length == head.Length)
            {
                throw new IOException("CONNECT response head too large");
            }
            var read = await stream.ReadAsync(head.AsMemory(length, 1), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new IOException("proxy closed the connection before answering CONNECT");
            }
            length += read;
        }
        var status = ParseStatus(head.AsSpan(0, length));
        if (status != 200)
        {
            var line = Encoding.ASCII.GetString(head, 0, head.AsSpan(0, length).IndexOf("\r\n"u8));
            throw new IOException($"CONNECT answered: {line}");
        }
    }

    private async Task<int> ReadResponseAsync(CancellationToken cancellationToken)
    {
        int headLength;
        while ((headLength = _buffer.AsSpan(_start, _end - _start).IndexOf(HeadEnd)) < 0)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
        var head = _buffer.AsSpan(_start, headLength + 4);
        var status = ParseStatus(head);
        long contentLength = -1;
        var chunked = false;
        ServerClosing = false;
        var lines = head[(head.IndexOf("\r\n"u8) + 2)..];
        while (lines.Length > 2)
        {
            var lineEnd = lines.IndexOf("\r\n"u8);
            var line = lines[..lineEnd];
            lines = lines[(lineEnd + 2)..];
            var colon = line.IndexOf((byte)':');
            if (colon <= 0)
            {
                continue;
            }
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim((byte)' ');
            if (Ascii.EqualsIgnoreCase(name, "content-length"u8))
            {
                contentLength = ParseLong(value, 10);
            }
            else if (Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8))
            {
                chunked = value.IndexOf("chunked"u8) >= 0;
            }
            else if (Ascii.EqualsIgnoreCase(name, "connection"u8))
            {
                ServerClosing |= Ascii.EqualsIgnoreCase(value, "close"u8);
            }
        }
        _start += headLength + 4;

        if (chunked)
        {
            while (true)
            {
                var sizeLine = await ReadLineAsync(cancellationToken).ConfigureAwait(false);
                var semicolon = sizeLine.IndexOf(';');
                var size = ParseLong(Encoding.ASCII.GetBytes(semicolon >= 0 ? sizeLine[..semicolon] : sizeLine).AsSpan().Trim((byte)' '), 16);
                if (size == 0)
                {
                    while ((await ReadLineAsync(cancellationToken).ConfigureAwait(false)).Length > 0)
                    {
                        // trailer fields are ignored
                    }
                    break;
                }
                await SkipAsync(size + 2, cancellationToken).ConfigureAwait(false);
            }
        }
        else if (contentLength >= 0)
        {
            await SkipAsync(contentLength, cancellationToken).ConfigureAwait(false);
        }
        else if (status is not (204 or 304) && status >= 200)
        {
            // Delimited by the end of the connection.
            ServerClosing = true;
            _start = _end = 0;
            while (await _tls.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false) > 0)
            {
            }
        }
        return status;
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        int lineLength;
        while ((lineLength = _buffer.AsSpan(_start, _end - _start).IndexOf("\r\n"u8)) < 0)
        {
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
        var line = Encoding.ASCII.GetString(_buffer, _start, lineLength);
        _start += lineLength + 2;
        return line;
    }

    private async Task SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (true)
        {
            var available = _end - _start;
            if (available >= count)
            {
                _start += (int)count;
                return;
            }
            count -= available;
            _start = _end = 0;
            await FillAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        if (_start == _end)
        {
            _start = _end = 0;
        }
        else if (_end == _buffer.Length)
        {
            if (_start == 0)
            {
                throw new IOException("response head or line too large");
            }
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
            _end -= _start;
            _start = 0;
        }
        var read = await _tls.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            throw new IOException("connection closed in the middle of a response");
        }
        _end += read;
    }

    private static int ParseStatus(ReadOnlySpan<byte> head)
    {
        // "HTTP/1.1 200 OK"
        if (head.Length < 12 || !head.StartsWith("HTTP/1."u8) || head[8] != (byte)' ')
        {
            throw new IOException("malformed status line");
        }
        return (int)ParseLong(head.Slice(9, 3), 10);
    }

    private static long ParseLong(ReadOnlySpan<byte> digits, int radix)
    {
        if (digits.IsEmpty || digits.Length > 15)
        {
            throw new IOException("malformed number in response");
        }
        long value = 0;
        foreach (var b in digits)
        {
            var digit = b switch
            {
                >= (byte)'0' and <= (byte)'9' => b - '0',
                >= (byte)'a' and <= (byte)'f' when radix == 16 => b - 'a' + 10,
                >= (byte)'A' and <= (byte)'F' when radix == 16 => b - 'A' + 10,
                _ => throw new IOException("malformed number in response"),
            };
            value = (value * radix) + digit;
        }
        return value;
    }
}

/// <summary>Where and how to connect, shared by all workers.</summary>
public sealed class Target
{
    private readonly X509ChainPolicy _chainPolicy;
    private readonly bool _tlsResume;

    public Target(LoadOptions options)
    {
        Proxy = options.Proxy;
        ConnectAddress = options.ConnectAddress;
        Port = options.TargetPort;
        TunnelHost = options.TunnelHost;
        _tlsResume = options.TlsResume;
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(options.CaPath);
        if (trusted.Count == 0)
        {
            throw new ArgumentException($"no certificate in {options.CaPath}");
        }
        _chainPolicy = new X509ChainPolicy
        {
            TrustMode = X509ChainTrustMode.CustomRootTrust,
            RevocationMode = X509RevocationMode.NoCheck,
        };
        _chainPolicy.CustomTrustStore.AddRange(trusted);
    }

    public IPEndPoint? Proxy { get; }

    public IPAddress ConnectAddress { get; }

    public int Port { get; }

    public string? TunnelHost { get; }

    /// <summary>TLS settings for one handshake: the server must present a certificate for <paramref name="host"/> from the given CA.</summary>
    public SslClientAuthenticationOptions TlsOptions(string host) => new()
    {
        TargetHost = host,
        ApplicationProtocols = [SslApplicationProtocol.Http11],
        CertificateChainPolicy = _chainPolicy.Clone(),
        AllowTlsResume = _tlsResume,
    };

    /// <summary>The bytes of <c>GET path HTTP/1.1</c> with <c>Host: host:port</c>.</summary>
    public byte[] Request(string host, string path) =>
        Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}:{Port}\r\nUser-Agent: outbound-load\r\nAccept: application/json\r\n\r\n");
}
