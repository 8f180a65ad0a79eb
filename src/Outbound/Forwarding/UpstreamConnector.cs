using System.Net;
using System.Net.Sockets;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// Opens TCP connections to remote servers, only to addresses the <see cref="DestinationResolver"/> allows,
/// resolved at connect time so the address checked is the address connected to.
/// </summary>
internal sealed class UpstreamConnector(DestinationResolver resolver, IOptions<OutboundOptions> options)
{
    private readonly TimeSpan _connectTimeout = options.Value.UpstreamConnectTimeout;

    /// <exception cref="HttpRequestException">The name does not resolve to an allowed address, or no address answers.</exception>
    public async ValueTask<Stream> ConnectAsync(string host, int port, CancellationToken cancellationToken)
    {
        var (addresses, failure) = await resolver.ResolveAsync(host, cancellationToken);
        if (failure != ResolveFailure.None)
        {
            throw new HttpRequestException(HttpRequestError.NameResolutionError,
                failure == ResolveFailure.Forbidden ? $"{host} resolves only to addresses the proxy must not connect to" : $"{host} cannot be resolved");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_connectTimeout);
        Exception? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), timeout.Token);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                socket.Dispose();
                throw new HttpRequestException(HttpRequestError.ConnectionError, $"connecting to {host}:{port} timed out", ex);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException(HttpRequestError.ConnectionError, $"cannot connect to {host}:{port}", last);
    }
}
