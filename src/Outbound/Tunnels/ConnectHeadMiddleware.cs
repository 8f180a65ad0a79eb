using System.Buffers;
using System.IO.Pipelines;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Reads and parses a CONNECT head (bounded in size and time) and sets <see cref="ConnectHeadFeature"/>; a
/// malformed one is answered here (<c>400</c>, <c>505</c>, <c>431</c>, <c>408</c>). A connection that does
/// not start with CONNECT is handed, every byte unread, to Kestrel's HTTP/1.1 handler past the tunnel stages.
/// </summary>
internal sealed class ConnectHeadMiddleware(
    ConnectionDelegate next, PlainHttpBranch plainHttp, IOptions<OutboundOptions> options, OutboundMetrics metrics, ILogger<ConnectHeadMiddleware> logger)
    : IConnectionStage
{
    private readonly OutboundOptions _options = options.Value;

    public async Task OnConnectionAsync(ConnectionContext connection)
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
                await RefuseAsync(connection, 408, "Request head not received in time", "head timeout");
                return;
            }

            buffer = read.Buffer;
            if (!ConnectRequest.MayBeConnect(buffer))
            {
                input.AdvanceTo(buffer.Start);

                // The head's timer must not outlive the head (Kestrel's HTTP/1.1 has its own limits).
                headTimeout.Dispose();
                await plainHttp.Http(connection);
                return;
            }

            // A complete head may be exactly the limit; an incomplete one that has reached it can only grow.
            var end = ConnectRequest.FindHeadEnd(buffer);
            if (end is { } complete ? buffer.Slice(0, complete).Length > _options.MaxRequestHeadBytes : buffer.Length >= _options.MaxRequestHeadBytes)
            {
                input.AdvanceTo(buffer.Start, buffer.End);
                await RefuseAsync(connection, 431, "CONNECT request head is too large", "head too large");
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

        // Bounded by MaxRequestHeadBytes and read once per tunnel; the parser wants one contiguous span.
        var head = buffer.Slice(0, headEnd).ToArray();
        input.AdvanceTo(headEnd);
        headTimeout.Dispose();

        var parseError = ConnectRequest.Parse(head, out var host, out var port, out var proxyAuthorization);
        if (parseError != ConnectParseError.None)
        {
            await RefuseAsync(connection, parseError == ConnectParseError.UnsupportedVersion ? 505 : 400, parseError switch
            {
                ConnectParseError.MalformedAuthority => "CONNECT needs host:port",
                ConnectParseError.MalformedHeader => "Malformed header in the CONNECT request",
                ConnectParseError.UnsupportedVersion => "Only HTTP/1.1 and HTTP/1.0 are supported",
                _ => "Malformed CONNECT request line",
            }, parseError.ToString());
            return;
        }

        connection.Features.Set(new ConnectHeadFeature(host, port, proxyAuthorization));
        await next(connection);
    }

    private async Task RefuseAsync(ConnectionContext connection, int status, string message, string reason)
    {
        metrics.Tunnel("malformed");
        Log.MalformedProxyRequest(logger, connection.ClientForLog(), status, reason);
        await ProxyErrorResponse.WriteAsync(connection.Transport.Output, new MatrixError(status, MatrixErrorCode.Unknown, message), connection.ConnectionClosed);
    }
}
