namespace MessengerProxy.Outbound.Tunnels;

/// <summary>A connection's parsed CONNECT head, set by <see cref="ConnectHeadMiddleware"/> for the stages after it.</summary>
/// <param name="Host">Lower case, without brackets.</param>
internal sealed class ConnectHeadFeature(string host, int port, string? proxyAuthorization)
{
    public string Host { get; } = host;

    public int Port { get; } = port;

    /// <summary>
    /// The <c>Proxy-Authorization</c> value when the head carried exactly one. Taken (and so forgotten) by the
    /// authorisation stage, so the credentials do not live on in the connection's features for its lifetime.
    /// </summary>
    public string? TakeProxyAuthorization()
    {
        var value = proxyAuthorization;
        proxyAuthorization = null;
        return value;
    }
}
