using System.Net;

namespace MessengerProxy.Pipeline.Http;

/// <summary>
/// Stops a homeserver or remote from switching protocols; both proxies' upstream clients are wrapped in it. The
/// proxies forward no upgrade requests (Matrix v1.11 has none), yet a server may answer <c>101</c> anyway; the forwarder would then splice client and remote together
/// into a pipe that no rule checks. The answer is dropped here, which also closes that connection (after a
/// 101 it belongs to the response), and the request fails as the remote's fault.
/// </summary>
internal sealed class SwitchingProtocolsGuard(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Check(request, await base.SendAsync(request, cancellationToken));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken) =>
        Check(request, base.Send(request, cancellationToken));

    private static HttpResponseMessage Check(HttpRequestMessage request, HttpResponseMessage response)
    {
        if (response.StatusCode != HttpStatusCode.SwitchingProtocols)
        {
            return response;
        }

        response.Dispose();
        throw new RemoteSwitchedProtocolsException(request.RequestUri?.IdnHost ?? "the remote");
    }
}

/// <summary>A remote answered 101 Switching Protocols.</summary>
internal sealed class RemoteSwitchedProtocolsException(string host)
    : HttpRequestException(HttpRequestError.InvalidResponse, $"{host} answered 101 Switching Protocols");
