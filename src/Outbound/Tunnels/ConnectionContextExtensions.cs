using Microsoft.AspNetCore.Connections;

namespace MessengerProxy.Outbound.Tunnels;

internal static class ConnectionContextExtensions
{
    /// <summary>The client's address for the log (the homeserver's; no user data).</summary>
    public static string ClientForLog(this ConnectionContext connection) => connection.RemoteEndPoint?.ToString() ?? "unknown";
}
