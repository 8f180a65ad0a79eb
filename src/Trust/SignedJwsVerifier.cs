using System.Text;
using System.Text.Json;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.TeleTrust;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Asn1.X9;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkix;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Utilities.Collections;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Store;

namespace MessengerProxy.Trust;

/// <summary>
/// A JWS whose signature and certificate path were verified: the payload bytes exactly as signed, and the path
/// from the signer up to (not including) the trust anchor, which <see cref="OcspChecker"/> checks next.
/// </summary>
internal sealed record SignedJws(byte[] Payload, string Algorithm, X509Certificate Signer, IReadOnlyList<X509Certificate> Path, X509Certificate Anchor)
{
    public string SignerName => Signer.SubjectDN.ToString();
}

/// <summary>Why a signed list was refused, as a stable code for readiness and metrics (the message has the detail).</summary>
internal enum JwsFailure
{
    /// <summary>No signed list at all (an unsigned document, or none served) where one is required.</summary>
    Unsigned,
    Malformed,
    Algorithm,
    Signature,
    Certificate,
    Chain,
    NoTrustAnchors,
    Revoked,
    RevocationUnknown,
    RevocationUnavailable,
    RevocationInvalid,
    Payload,
    Replay,
}

internal static class JwsFailures
{
    /// <summary>The code as readiness and the <c>reason</c> metric tag show it: <c>revocation-unavailable</c>.</summary>
    public static string Code(this JwsFailure failure) => failure switch
    {
        JwsFailure.Unsigned => "unsigned",
        JwsFailure.Malformed => "malformed",
        JwsFailure.Algorithm => "algorithm",
        JwsFailure.Signature => "signature",
        JwsFailure.Certificate => "certificate",
        JwsFailure.Chain => "chain",
        JwsFailure.NoTrustAnchors => "no-trust-anchors",
        JwsFailure.Revoked => "revoked",
        JwsFailure.RevocationUnknown => "revocation-unknown",
        JwsFailure.RevocationUnavailable => "revocation-unavailable",
        JwsFailure.RevocationInvalid => "revocation-invalid",
        JwsFailure.Payload => "payload",
        _ => "replay",
    };
}

internal sealed class JwsVerificationException(JwsFailure failure, string message) : Exception(message)
{
    public JwsFailure Failure { get; } = failure;
}

/// <summary>
/// Verifies a JWS as the VZD publishes the federation list: a compact JWS whose <c>x5c</c> header carries the
/// signer certificate (and possibly intermediates), signed with BP256R1 (ECDSA on brainpoolP256r1 with
/// SHA-256) or ES256. The signer must chain up to a configured trust anchor, be valid now, and have a key
/// on the curve the algorithm names. The registration service and the proxy both use it (each reads the
/// payload its own way); revocation is <see cref="OcspChecker"/>'s, since it needs the network.
/// </summary>
internal sealed class SignedJwsVerifier
{
    private const int MaxCertificates = 8;

    private static readonly Dictionary<string, DerObjectIdentifier> s_curves = new(StringComparer.Ordinal)
    {
        ["BP256R1"] = TeleTrusTObjectIdentifiers.BrainpoolP256R1,
        ["ES256"] = SecObjectIdentifiers.SecP256r1,
    };

    private readonly HashSet<TrustAnchor> _anchors;
    private readonly HashSet<string> _algorithms;
    private readonly TimeProvider _time;

    public SignedJwsVerifier(IEnumerable<X509Certificate> trustAnchors, IEnumerable<string> algorithms, TimeProvider time)
    {
        _anchors = trustAnchors.Select(c => new TrustAnchor(c, null)).ToHashSet();
        _algorithms = algorithms.ToHashSet(StringComparer.Ordinal);
        _time = time;
    }

    /// <summary>Loads every certificate of the given PEM files.</summary>
    public static List<X509Certificate> LoadCertificates(IEnumerable<string> pemFiles)
    {
        var parser = new X509CertificateParser();
        var result = new List<X509Certificate>();
        foreach (var file in pemFiles)
        {
            using var stream = File.OpenRead(file);
            var certificates = parser.ReadCertificates(stream);
            if (certificates.Count == 0)
            {
                throw new InvalidDataException($"'{file}' holds no certificate");
            }

            result.AddRange(certificates);
        }

        return result;
    }

    /// <param name="compact">The compact serialisation; every character must be ASCII.</param>
    /// <exception cref="JwsVerificationException">With the reason the JWS is refused.</exception>
    public SignedJws Verify(string compact)
    {
        if (_anchors.Count == 0)
        {
            throw new JwsVerificationException(JwsFailure.NoTrustAnchors, "no trust anchors are configured");
        }

        // The compact form is base64url and dots (RFC 7515 7.1); anything else, such as a byte that was not
        // text, is refused here by position rather than surfacing later as a base64 error.
        if (compact.AsSpan().IndexOfAnyExceptInRange('\0', '\x7F') is var nonAscii and >= 0)
        {
            throw new JwsVerificationException(JwsFailure.Malformed, $"not a compact JWS: character {nonAscii} is not ASCII");
        }

        var parts = compact.Trim().Split('.');
        if (parts.Length != 3)
        {
            throw new JwsVerificationException(JwsFailure.Malformed, $"not a compact JWS (expected 3 parts, found {parts.Length})");
        }

        var headerBytes = Base64Url(parts[0], "header");
        var payloadBytes = Base64Url(parts[1], "payload");
        var signature = Base64Url(parts[2], "signature");

        var (algorithm, chain) = ReadHeader(headerBytes);
        var signer = chain[0];
        var now = _time.GetUtcNow().UtcDateTime;
        if (now < signer.NotBefore || now > signer.NotAfter)
        {
            throw new JwsVerificationException(JwsFailure.Certificate, $"signer certificate '{signer.SubjectDN}' is not valid now (valid {signer.NotBefore:u} to {signer.NotAfter:u})");
        }

        CheckCurve(signer, algorithm);
        CheckSignature(signer, algorithm, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), signature);
        var (path, anchor) = CheckChain(signer, chain, now);
        return new SignedJws(payloadBytes, algorithm, signer, path, anchor);
    }

    private (string Algorithm, List<X509Certificate> Chain) ReadHeader(byte[] headerBytes)
    {
        if (!StrictJson.TryParseDocument(headerBytes, "header", out var header, out var error))
        {
            // A repeated parameter is named by its path already; a text or syntax fault is the header's.
            throw new JwsVerificationException(JwsFailure.Malformed, error.StartsWith("header.", StringComparison.Ordinal) ? error : $"header: {error}");
        }

        using (header)
        {
            if (header.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new JwsVerificationException(JwsFailure.Malformed, "header: not a JSON object");
            }

            string? algorithm = null;
            var chain = new List<X509Certificate>();
            foreach (var parameter in header.RootElement.EnumerateObject())
            {
                var path = "header." + parameter.Name;
                if (parameter.Name == "alg")
                {
                    algorithm = parameter.Value.ValueKind == JsonValueKind.String ? parameter.Value.GetString() : null;
                    continue;
                }

                var problem = parameter.Name switch
                {
                    "x5c" => ReadChain(parameter.Value, path, chain),
                    // No extension is understood here, so any critical one makes the JWS unacceptable (RFC 7515 4.1.11).
                    "crit" => $"{path}: critical header parameters are not supported",
                    "jku" or "x5u" or "jwk" or "kid" => $"{path}: key references other than x5c are not accepted",
                    _ => null,
                };
                if (problem is not null)
                {
                    throw new JwsVerificationException(parameter.Name == "x5c" ? JwsFailure.Malformed : JwsFailure.Algorithm, problem);
                }
            }

            if (algorithm is null || !s_curves.ContainsKey(algorithm) || !_algorithms.Contains(algorithm))
            {
                throw new JwsVerificationException(JwsFailure.Algorithm, $"header.alg: '{algorithm ?? "(missing)"}' is not an accepted algorithm ({string.Join(", ", _algorithms)})");
            }

            if (chain.Count == 0)
            {
                throw new JwsVerificationException(JwsFailure.Malformed, "header.x5c: the signer certificate is missing");
            }

            return (algorithm, chain);
        }
    }

    private static string? ReadChain(JsonElement value, string path, List<X509Certificate> chain)
    {
        if (value.ValueKind != JsonValueKind.Array || value.GetArrayLength() is 0 or > MaxCertificates)
        {
            return $"{path}: must be an array of 1 to {MaxCertificates} certificates";
        }

        var parser = new X509CertificateParser();
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            try
            {
                // x5c holds standard base64 DER (RFC 7515 4.1.6), not base64url.
                var der = Convert.FromBase64String(item.GetString() ?? throw new FormatException());
                chain.Add(parser.ReadCertificate(der) ?? throw new FormatException());
            }
            catch (Exception ex) when (ex is FormatException or InvalidOperationException or IOException or Org.BouncyCastle.Security.Certificates.CertificateException or ArgumentException)
            {
                return $"{path}[{index}]: not a base64 DER certificate";
            }

            index++;
        }

        return null;
    }

    private static void CheckCurve(X509Certificate signer, string algorithm)
    {
        var keyInfo = signer.SubjectPublicKeyInfo;
        var curve = keyInfo.Algorithm.Algorithm.Equals(X9ObjectIdentifiers.IdECPublicKey)
            ? keyInfo.Algorithm.Parameters as DerObjectIdentifier
            : null;
        if (curve is null || !curve.Equals(s_curves[algorithm]))
        {
            throw new JwsVerificationException(JwsFailure.Algorithm, $"header.alg: {algorithm} needs an EC key on {s_curves[algorithm]} but the signer's key is {(curve?.ToString() ?? keyInfo.Algorithm.Algorithm.ToString())}");
        }

        if (signer.GetKeyUsage() is { } usage && !usage[0])
        {
            throw new JwsVerificationException(JwsFailure.Certificate, "signer certificate may not be used for digital signatures (keyUsage)");
        }
    }

    private static void CheckSignature(X509Certificate signer, string algorithm, byte[] signingInput, byte[] signature)
    {
        // JWS ECDSA signatures are R || S, 32 bytes each for these 256-bit curves (RFC 7518 3.4).
        if (signature.Length != 64)
        {
            throw new JwsVerificationException(JwsFailure.Signature, $"signature: {algorithm} signatures are 64 bytes, found {signature.Length}");
        }

        var verifier = SignerUtilities.GetSigner("SHA-256withPLAIN-ECDSA");
        verifier.Init(false, (ECPublicKeyParameters)signer.GetPublicKey());
        verifier.BlockUpdate(signingInput, 0, signingInput.Length);
        if (!verifier.VerifySignature(signature))
        {
            throw new JwsVerificationException(JwsFailure.Signature, $"signature: does not verify with the key of '{signer.SubjectDN}'");
        }
    }

    /// <returns>The path from the signer up to the anchor (which is not part of it), and the anchor.</returns>
    private (IReadOnlyList<X509Certificate> Path, X509Certificate Anchor) CheckChain(X509Certificate signer, List<X509Certificate> chain, DateTime now)
    {
        try
        {
            var parameters = new PkixBuilderParameters(_anchors, new X509CertStoreSelector { Certificate = signer })
            {
                IsRevocationEnabled = false,
                Date = now,
            };
            parameters.AddStoreCert(CollectionUtilities.CreateStore(chain));
            var result = new PkixCertPathBuilder().Build(parameters);
            return (result.CertPath.Certificates.ToList(), result.TrustAnchor.TrustedCert);
        }
        catch (Exception ex) when (ex is PkixCertPathBuilderException or PkixCertPathValidatorException)
        {
            throw new JwsVerificationException(JwsFailure.Chain, $"signer certificate '{signer.SubjectDN}' does not chain to a trust anchor valid now: {ex.Message}");
        }
    }

    private static byte[] Base64Url(string part, string name)
    {
        try
        {
            if (part.Length == 0 || part.Contains('=') || part.Contains('+') || part.Contains('/'))
            {
                throw new FormatException();
            }

            return System.Buffers.Text.Base64Url.DecodeFromChars(part);
        }
        catch (FormatException)
        {
            throw new JwsVerificationException(JwsFailure.Malformed, $"{name}: not base64url");
        }
    }
}
