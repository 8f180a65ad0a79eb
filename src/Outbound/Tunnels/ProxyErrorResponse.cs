using System.IO.Pipelines;
using System.Text;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.WebUtilities;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>
/// The proxy's own HTTP/1.1 answers on a raw connection, before a tunnel exists: Kestrel's HTTP layer only
/// runs once a tunnel is up (or for plain proxy requests), so the CONNECT stages write these themselves.
/// </summary>
internal static class ProxyErrorResponse
{
    private static readonly byte[] s_established = "HTTP/1.1 200 Connection Established\r\n\r\n"u8.ToArray();

    /// <summary>The answer to an accepted CONNECT; the tunnel's bytes follow it.</summary>
    public static ValueTask<FlushResult> WriteEstablishedAsync(PipeWriter output, CancellationToken cancellationToken) =>
        output.WriteAsync(s_established, cancellationToken);

    /// <summary>A Matrix error with <c>Connection: close</c>; the caller then ends the connection.</summary>
    /// <param name="proxyAuthenticate">The challenge of a <c>407</c>.</param>
    public static async Task WriteAsync(PipeWriter output, MatrixError error, CancellationToken cancellationToken, string? proxyAuthenticate = null)
    {
        var body = error.ToUtf8Json();
        var challenge = proxyAuthenticate is null ? string.Empty : $"Proxy-Authenticate: {proxyAuthenticate}\r\n";
        var head = $"HTTP/1.1 {error.StatusCode} {ReasonPhrases.GetReasonPhrase(error.StatusCode)}\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nCache-Control: no-store\r\n{challenge}Connection: close\r\n\r\n";
        await output.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
        await output.WriteAsync(body, cancellationToken);
    }
}
