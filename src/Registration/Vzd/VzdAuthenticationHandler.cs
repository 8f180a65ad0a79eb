using System.Net;
using System.Net.Http.Headers;

namespace MessengerProxy.Registration.Vzd;

/// <summary>
/// Puts the VZD provider token on every request of the VZD client (<see cref="VzdFederationListFetcher.HttpClientName"/>).
/// A 401 means the VZD no longer accepts the token (revoked, or expired early): the token is renewed once and the
/// request sent once more; a second 401 is the caller's answer, and is reported as a refusal of the credentials.
/// Without <c>Vzd:ClientId</c> it passes requests through (the legacy static token is the fetcher's).
/// </summary>
internal sealed class VzdAuthenticationHandler(VzdTokenSource tokens) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!tokens.IsConfigured)
        {
            return await base.SendAsync(request, cancellationToken);
        }

        var token = await tokens.GetTokenAsync(cancellationToken);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        var response = await base.SendAsync(request, cancellationToken);
        // A request with a body could not be sent twice; the VZD requests the service makes have none.
        if (response.StatusCode != HttpStatusCode.Unauthorized || request.Content is not null)
        {
            return response;
        }

        response.Dispose();
        tokens.Reject(token);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetTokenAsync(cancellationToken));
        response = await base.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            tokens.ReportRefused((int)response.StatusCode);
        }

        return response;
    }
}
