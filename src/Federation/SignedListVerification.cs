using System.Diagnostics.Metrics;
using MessengerProxy.Trust;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>
/// The proxy's own check of the VZD's signed list, with its own trust anchors (gematik: "Der Messenger-Proxy muss
/// … die Signatur … unter Verwendung des x5c-Header überprüfen"): signature and path by the shared
/// <see cref="SignedJwsVerifier"/>, revocation of the whole path by <see cref="OcspChecker"/>, then the payload
/// read as the proxy reads every list.
/// </summary>
internal sealed class SignedListVerification(SignedJwsVerifier verifier, OcspChecker ocsp)
{
    public const string OcspHttpClientName = "MessengerProxy.Ocsp";

    public static SignedListVerification Create(IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<FederationOptions>>().Value;
        var time = services.GetRequiredService<TimeProvider>();
        var anchors = options.AllowUnsignedList && options.TrustAnchors.Count == 0 ? [] : SignedJwsVerifier.LoadCertificates(options.TrustAnchors);
        var ocsp = new OcspChecker(
            () => services.GetRequiredService<IHttpClientFactory>().CreateClient(OcspHttpClientName),
            options.Ocsp, time, services.GetRequiredService<IMeterFactory>(), "proxy");
        return new SignedListVerification(new SignedJwsVerifier(anchors, options.Algorithms, time), ocsp);
    }

    /// <exception cref="JwsVerificationException">With the reason; nothing of the list is used then.</exception>
    public async Task<FederationList> VerifyAsync(string compact, CancellationToken cancellationToken)
    {
        var jws = verifier.Verify(compact);
        await ocsp.CheckAsync(jws, cancellationToken);
        try
        {
            var (list, _) = FederationListCopy.Parse(jws.Payload);
            return list.Signed();
        }
        catch (FormatException ex)
        {
            throw new JwsVerificationException(JwsFailure.Payload, "payload: " + ex.Message);
        }
    }
}
