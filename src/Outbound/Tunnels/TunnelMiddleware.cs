using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Outbound.Forwarding;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Kestrel connection middleware of the outbound listener. A connection that starts with CONNECT is
/// checked (destination, port, addresses) before anything else happens; if allowed it is answered 200 and
/// TLS is terminated with a certificate minted for the destination, after which Kestrel's HTTP/1.1 parser
/// reads the decrypted requests, one by one, into the outbound request handler. A host refused only by the
/// federation list is, by default, accepted the same way but marked refused, so the handler answers every
/// request inside with the refusal (the homeserver cannot read an answer to its CONNECT). Any other
/// connection (plain <c>http://</c> proxy requests in absolute form) goes to Kestrel untouched.
/// </summary>
internal sealed class TunnelMiddleware
{
    private static readonly byte[] s_established = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();
    private static readonly List<SslApplicationProtocol> s_http11 = [SslApplicationProtocol.Http11];

    private readonly DestinationPolicy _destinations;
    private readonly UpstreamConnector _connector;
    private readonly ProxyCredentials _credentials;
    private readonly LeafCertificateCache _certificates;
    private readonly UnlistedHostCertificates _unlistedCertificates;
    private readonly OutboundMetrics _metrics;
    private readonly ILogger _logger;
    private readonly OutboundOptions _options;
    private int _open;

    public TunnelMiddleware(DestinationPolicy destinations, UpstreamConnector connector, ProxyCredentials credentials, LeafCertificateCache certificates,
        UnlistedHostCertificates unlistedCertificates, OutboundMetrics metrics, IOptions<OutboundOptions> options, ILogger<TunnelMiddleware> logger)
    {
        _destinations = destinations;
        _connector = connector;
        _credentials = credentials;
        _certificates = certificates;
        _unlistedCertificates = unlistedCertificates;
        _metrics = metrics;
        _options = options.Value;
        _logger = logger;
    }

    public async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        _metrics.ConnectionOpened();
        try
        {
            if (Interlocked.Increment(ref _open) > _options.MaxConnections)
            {
                _metrics.Tunnel("limit");
                Log.ConnectionLimit(_logger, _options.MaxConnections, Client(connection));
                await WriteErrorAsync(connection.Transport.Output, new MatrixError(503, MatrixErrorCode.Unknown, "The outbound proxy has too many open connections"), connection.ConnectionClosed);
                return;
            }

            await HandleAsync(connection, next);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or broke the connection; nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _open);
            _metrics.ConnectionClosed();
        }
    }

    private async Task HandleAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        var input = connection.Transport.Input;
        using var headTimeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
        headTimeout.CancelAfter(_options.RequestHeadTimeout);

        ReadOnlySequence<byte> buffer;
        SequencePosition headEnd;
        while (true)
        {
            ReadResult read;
            try
            {
                read = await input.ReadAsync(headTimeout.Token);
            }
            catch (OperationCanceledException) when (!connection.ConnectionClosed.IsCancellationRequested)
            {
                await RefuseMalformedAsync(connection, 408, "Request head not received in time", "head timeout");
                return;
            }

            buffer = read.Buffer;
            if (!ConnectRequest.MayBeConnect(buffer))
            {
                // Not a tunnel: hand every byte, unread, to Kestrel's HTTP parser.
                input.AdvanceTo(buffer.Start);
                await next(connection);
                return;
            }

            // A complete head may be exactly the limit; an incomplete one that has reached it can only grow.
            var end = ConnectRequest.FindHeadEnd(buffer);
            if (end is { } complete ? buffer.Slice(0, complete).Length > _options.MaxRequestHeadBytes : buffer.Length >= _options.MaxRequestHeadBytes)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                await RefuseMalformedAsync(connection, 431, "CONNECT request head is too large", "head too large");
                return;
            }

            if (end is { } found)
            {
                headEnd = found;
                break;
            }

            if (read.IsCompleted)
            {
                input.AdvanceTo(buffer.End);
                return;
            }

            input.AdvanceTo(buffer.Start, buffer.End);
        }

        var head = buffer.Slice(0, headEnd).ToArray();
        input.AdvanceTo(headEnd);

        var parseError = ConnectRequest.Parse(head, out var host, out var port, out var proxyAuthorization);
        if (parseError != ConnectParseError.None)
        {
            await RefuseMalformedAsync(connection, parseError == ConnectParseError.UnsupportedVersion ? 505 : 400, parseError switch
            {
                ConnectParseError.MalformedAuthority => "CONNECT needs host:port",
                ConnectParseError.MalformedHeader => "Malformed header in the CONNECT request",
                ConnectParseError.UnsupportedVersion => "Only HTTP/1.1 and HTTP/1.0 are supported",
                _ => "Malformed CONNECT request line",
            }, parseError.ToString());
            return;
        }

        if (!_credentials.Accepts(proxyAuthorization))
        {
            _metrics.Tunnel("unauthenticated");
            Log.TunnelRefused(_logger, host, port, Client(connection), 407, proxyAuthorization is null ? "no proxy credentials" : "wrong proxy credentials");
            await WriteErrorAsync(connection.Transport.Output, new MatrixError(407, MatrixErrorCode.Unauthorized, "Proxy credentials required"),
                connection.ConnectionClosed, $"Proxy-Authenticate: {ProxyCredentials.Challenge}\r\n");
            return;
        }

        // Name resolution and a federation list refresh have time limits of their own; the head's is spent.
        var (destination, refusal) = await _destinations.AuthorizeAsync(host, port, tls: true, connection.ConnectionClosed);
        if (refusal is { InsideTunnel: true })
        {
            await RefuseInsideAsync(connection, next, new Destination(ServerName.NormalizeHost(host), port, Tls: true, DestinationKind.Federation, []), refusal);
            return;
        }

        if (destination is null)
        {
            _metrics.Tunnel("refused");
            Log.TunnelRefused(_logger, host, port, Client(connection), refusal!.Error.StatusCode, refusal.Reason);
            await WriteErrorAsync(connection.Transport.Output, refusal.Error, connection.ConnectionClosed);
            return;
        }

        if (destination.Kind == DestinationKind.Extra && !_options.InterceptExtraHosts)
        {
            await RelayAsync(connection, destination);
            return;
        }

        _certificates.Prefetch(destination.Host);
        await connection.Transport.Output.WriteAsync(s_established, connection.ConnectionClosed);
        await InterceptAsync(connection, next, new TunnelFeature(destination));
    }

    /// <summary>
    /// A host outside the federation: a homeserver cannot read an answer to its CONNECT (Synapse reports only
    /// that it could not connect), so the tunnel is accepted and every request inside gets the refusal.
    /// Nothing is resolved or connected. Its certificate comes from a budget of its own; once that is spent
    /// the host is refused at the CONNECT as without the option.
    /// </summary>
    private async Task RefuseInsideAsync(ConnectionContext connection, ConnectionDelegate next, Destination unlisted, DestinationRefusal refusal)
    {
        if (!_unlistedCertificates.TryPrepare(unlisted.Host))
        {
            _metrics.Tunnel("refused");
            Log.UnlistedMintBudgetSpent(_logger, unlisted.Host, unlisted.Port, Client(connection), _options.UnlistedCertificateMints, _options.UnlistedCertificateMintPeriod);
            await WriteErrorAsync(connection.Transport.Output, refusal.Error, connection.ConnectionClosed);
            return;
        }

        Log.TunnelRefusedInside(_logger, unlisted.Host, unlisted.Port, Client(connection), refusal.Error.StatusCode, refusal.Reason);
        await connection.Transport.Output.WriteAsync(s_established, connection.ConnectionClosed);
        await InterceptAsync(connection, next, new TunnelFeature(unlisted, refusal));
    }

    /// <summary>
    /// Extra hosts (push gateway, SSO) have no Matrix rules to check inside, so their TLS is left end to end:
    /// the homeserver verifies the real certificate and the proxy only relays bytes to an allowed address.
    /// </summary>
    private async Task RelayAsync(ConnectionContext connection, Destination destination)
    {
        Stream upstream;
        try
        {
            upstream = await _connector.ConnectAsync(destination.Host, destination.Port, connection.ConnectionClosed);
        }
        catch (HttpRequestException ex)
        {
            _metrics.Tunnel("refused");
            Log.TunnelRefused(_logger, destination.Host, destination.Port, Client(connection), 502, ex.Message);
            await WriteErrorAsync(connection.Transport.Output, new MatrixError(502, MatrixErrorCode.Unknown, $"Cannot connect to {destination.Host}:{destination.Port}"), connection.ConnectionClosed);
            return;
        }

        await using (upstream)
        {
            await connection.Transport.Output.WriteAsync(s_established, connection.ConnectionClosed);
            _metrics.Tunnel("relayed");

            // Either direction moving keeps the tunnel; silence both ways for the idle timeout ends it.
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed);
            idle.CancelAfter(_options.RelayIdleTimeout);
            var toUpstream = RelayToUpstreamAsync(connection.Transport.Input, upstream, idle);
            var toClient = RelayToClientAsync(upstream, connection.Transport.Output, idle);
            var first = await Task.WhenAny(toUpstream, toClient);
            await idle.CancelAsync();
            await Task.WhenAll(toUpstream, toClient).ContinueWith(_ => { }, TaskScheduler.Default);
            if (first.IsFaulted && first.Exception?.InnerException is { } failure and not (IOException or OperationCanceledException or SocketException))
            {
                throw failure;
            }
        }
    }

    private async Task RelayToUpstreamAsync(PipeReader from, Stream to, CancellationTokenSource idle)
    {
        while (true)
        {
            var result = await from.ReadAsync(idle.Token);
            foreach (var segment in result.Buffer)
            {
                await to.WriteAsync(segment, idle.Token);
            }

            from.AdvanceTo(result.Buffer.End);
            idle.CancelAfter(_options.RelayIdleTimeout);
            if (result.IsCompleted)
            {
                break;
            }
        }

        if (to is NetworkStream network)
        {
            network.Socket.Shutdown(SocketShutdown.Send);
        }
    }

    private async Task RelayToClientAsync(Stream from, PipeWriter to, CancellationTokenSource idle)
    {
        var buffer = new byte[16 * 1024];
        int read;
        while ((read = await from.ReadAsync(buffer, idle.Token)) > 0)
        {
            await to.WriteAsync(buffer.AsMemory(0, read), idle.Token);
            idle.CancelAfter(_options.RelayIdleTimeout);
        }
    }

    private async Task InterceptAsync(ConnectionContext connection, ConnectionDelegate next, TunnelFeature tunnel)
    {
        var destination = tunnel.Destination;
        var original = connection.Transport;
        var ssl = new SslStream(new DuplexPipeStream(original), leaveInnerStreamOpen: false);
        await using var _ = ssl;
        using (var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(connection.ConnectionClosed))
        {
            handshakeTimeout.CancelAfter(_options.HandshakeTimeout);
            try
            {
                await ssl.AuthenticateAsServerAsync(SelectOptions, tunnel, handshakeTimeout.Token);
            }
            catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException or ConnectionResetException)
            {
                _metrics.Tunnel("handshake_failed");
                Log.TunnelHandshakeFailed(_logger, destination.Host, destination.Port, ex is OperationCanceledException ? "timed out" : ex.Message);
                return;
            }
        }

        _metrics.Tunnel(tunnel.Refusal is null ? "opened" : "refused_inside");
        var reader = PipeReader.Create(ssl, new StreamPipeReaderOptions(leaveOpen: true));
        var writer = PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true));
        connection.Features.Set(tunnel);
        connection.Transport = new DuplexPipe(reader, writer);
        try
        {
            await next(connection);
        }
        finally
        {
            connection.Transport = original;
            await reader.CompleteAsync();
            await writer.CompleteAsync();
        }
    }

    private ValueTask<SslServerAuthenticationOptions> SelectOptions(SslStream stream, SslClientHelloInfo hello, object? state, CancellationToken cancellationToken)
    {
        var tunnel = (TunnelFeature)state!;
        var destination = tunnel.Destination;

        // The certificate names what the homeserver will check: the name it sent as SNI when the tunnel
        // may serve it (delegation), otherwise the host it asked to CONNECT to.
        var name = !string.IsNullOrEmpty(hello.ServerName) && destination.Serves(hello.ServerName) ? ServerName.NormalizeHost(hello.ServerName) : destination.Host;
        return ValueTask.FromResult(new SslServerAuthenticationOptions
        {
            ServerCertificateContext = tunnel.Refusal is null ? _certificates.Get(name) : _unlistedCertificates.Get(destination.Host),
            ApplicationProtocols = s_http11,
            ClientCertificateRequired = false,
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        });
    }

    private async Task RefuseMalformedAsync(ConnectionContext connection, int status, string message, string reason)
    {
        _metrics.Tunnel("malformed");
        Log.MalformedProxyRequest(_logger, Client(connection), status, reason);
        await WriteErrorAsync(connection.Transport.Output, new MatrixError(status, MatrixErrorCode.Unknown, message), connection.ConnectionClosed);
    }

    /// <summary>Answers on the raw connection (no HTTP framework here yet) and lets the caller close it.</summary>
    internal static async Task WriteErrorAsync(PipeWriter output, MatrixError error, CancellationToken cancellationToken, string extraHeaders = "")
    {
        var body = error.ToUtf8Json();
        var head = $"HTTP/1.1 {error.StatusCode} {Reason(error.StatusCode)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nCache-Control: no-store\r\n{extraHeaders}Connection: close\r\n\r\n";
        await output.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
        await output.WriteAsync(body, cancellationToken);
    }

    private static string Reason(int status) => status switch
    {
        400 => "Bad Request",
        403 => "Forbidden",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    };

    private static string Client(ConnectionContext connection) => connection.RemoteEndPoint?.ToString() ?? "unknown";

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
