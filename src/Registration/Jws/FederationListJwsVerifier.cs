using MessengerProxy.Policy.Federation;
using MessengerProxy.Registration.Validation;
using MessengerProxy.Trust;
using Org.BouncyCastle.X509;

namespace MessengerProxy.Registration.Jws;

/// <summary>A verified federation list, ready to store (after <see cref="OcspChecker"/> has checked <see cref="Jws"/>'s path).</summary>
internal sealed record VerifiedFederationList(long SourceVersion, IReadOnlyList<FederationDomain> Domains, string Signer, string Algorithm, SignedJws Jws);

/// <summary>
/// The VZD's signed list as this service accepts it: the shared <see cref="SignedJwsVerifier"/> (signature,
/// curve, key usage, path to <c>Registration:Vzd:TrustAnchors</c>), then the payload validated like an admin
/// replace (strict JSON, domain names, IK numbers).
/// </summary>
internal sealed class FederationListJwsVerifier(IEnumerable<X509Certificate> trustAnchors, IEnumerable<string> algorithms, TimeProvider time)
{
    private readonly SignedJwsVerifier _jws = new(trustAnchors, algorithms, time);

    /// <param name="allowEmpty">Accept a list without domains, which the proxies treat as unusable.</param>
    /// <exception cref="JwsVerificationException">With the reason the list is refused.</exception>
    public VerifiedFederationList Verify(string compact, bool allowEmpty = false)
    {
        var jws = _jws.Verify(compact);
        if (!FederationListJson.TryParseList(jws.Payload, requireVersion: true, out var version, out var domains, out var error))
        {
            throw new JwsVerificationException(JwsFailure.Payload, $"payload: {error}");
        }

        if (FederationListJson.EmptyListProblem(domains, allowEmpty) is { } empty)
        {
            throw new JwsVerificationException(JwsFailure.Payload, $"payload: {empty}");
        }

        return new VerifiedFederationList(version!.Value, domains, jws.SignerName, jws.Algorithm, jws);
    }
}
