using Microsoft.AspNetCore.Connections;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Ends a connection quietly when the client broke it or went away while a stage was reading or writing:
/// there is nobody left to answer, and Kestrel would otherwise log each one as an unhandled error.
/// </summary>
internal sealed class ClientGoneMiddleware(ConnectionDelegate next) : IConnectionStage
{
    public async Task OnConnectionAsync(ConnectionContext connection)
    {
        try
        {
            await next(connection);
        }
        catch (Exception ex) when (ex is IOException or ConnectionResetException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }
}
