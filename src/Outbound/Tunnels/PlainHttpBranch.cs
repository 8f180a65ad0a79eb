using Microsoft.AspNetCore.Connections;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// Kestrel's HTTP/1.1 handler as it sits past the tunnel stages, for connections that are no tunnel (plain
/// <c>http://</c> proxy requests in absolute form): they must skip the tunnel stages and TLS. Kestrel builds
/// a listener's middlewares from the last to the first, so <see cref="Capture"/>, added last, has the handler
/// before the head reader that forks to it is built.
/// </summary>
internal sealed class PlainHttpBranch
{
    private ConnectionDelegate? _http;

    public ConnectionDelegate Http => _http ?? throw new InvalidOperationException("The outbound listener was built without capturing its HTTP handler.");

    public ConnectionDelegate Capture(ConnectionDelegate http)
    {
        _http = http;
        return http;
    }
}
