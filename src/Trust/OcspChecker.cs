using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using MessengerProxy.Hosting.Io;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace MessengerProxy.Trust;

/// <summary>OCSP settings (<c>Registration:Vzd:Ocsp</c> at the registration service, <c>Federation:Ocsp</c> at the proxy).</summary>
internal sealed class OcspOptions
{
    /// <summary>Check revocation at all. Off only for test set-ups whose certificates name no responder.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Ask this responder instead of the one each certificate names (authorityInfoAccess), as the TIM reference's <c>ocspResponder</c>.</summary>
    public string? ResponderUrl { get; set; }

    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Largest responder answer read (a response with a responder certificate is about 1–2 KiB).</summary>
    public int MaxResponseBytes { get; set; } = 64 * 1024;
}

/// <summary>
/// Revocation of every certificate on a signed list's path (signer and intermediates; the anchor is trusted by
/// configuration), per gematik A_25632/A_25635: accepted only when every status is good. Each request carries a
/// fresh nonce that the answer must echo; the answer must be signed by the issuer itself or by a responder
/// certificate the issuer issued for OCSP signing (RFC 6960 §4.2.2.2). A good status is reused until its
/// <c>nextUpdate</c> (never when the responder gives none), so a steady list does not ask once per poll.
/// </summary>
internal sealed class OcspChecker
{
    public const string MeterName = "MessengerProxy.Trust";

    // Clocks of responder and verifier differ; RFC 6960 leaves the tolerance to the client.
    private static readonly TimeSpan s_clockSkew = TimeSpan.FromMinutes(5);

    private readonly Func<HttpClient> _httpClient;
    private readonly OcspOptions _options;
    private readonly TimeProvider _time;
    private readonly Counter<long> _checks;
    private readonly ConcurrentDictionary<string, DateTimeOffset> _goodUntil = new(StringComparer.Ordinal);

    public OcspChecker(Func<HttpClient> httpClient, OcspOptions options, TimeProvider time, IMeterFactory meterFactory, string component)
    {
        _httpClient = httpClient;
        _options = options;
        _time = time;
        _checks = meterFactory.Create(MeterName).CreateCounter<long>("ocsp_checks_total",
            description: "OCSP status look-ups of signed-list certificates, by component and outcome (good, cached, revoked, unknown, unavailable, invalid).");
        Component = component;
    }

    public string Component { get; }

    public bool Enabled => _options.Enabled;

    /// <exception cref="JwsVerificationException">Revoked, unknown, no answer, or an answer that cannot be trusted.</exception>
    public async Task CheckAsync(SignedJws jws, CancellationToken cancellationToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        for (var i = 0; i < jws.Path.Count; i++)
        {
            var issuer = i + 1 < jws.Path.Count ? jws.Path[i + 1] : jws.Anchor;
            await CheckOneAsync(jws.Path[i], issuer, cancellationToken);
        }
    }

    private async Task CheckOneAsync(X509Certificate certificate, X509Certificate issuer, CancellationToken cancellationToken)
    {
        var id = new CertificateID(new AlgorithmIdentifier(Org.BouncyCastle.Asn1.Oiw.OiwObjectIdentifiers.IdSha1, DerNull.Instance), issuer, certificate.SerialNumber);
        var key = Convert.ToHexString(id.GetIssuerNameHash()) + Convert.ToHexString(id.GetIssuerKeyHash()) + ":" + id.SerialNumber.ToString(16);
        if (_goodUntil.TryGetValue(key, out var until) && _time.GetUtcNow() < until)
        {
            Count("cached");
            return;
        }

        var subject = certificate.SubjectDN.ToString();
        var url = _options.ResponderUrl is { Length: > 0 } configured ? configured : ResponderOf(certificate)
            ?? throw Fail(JwsFailure.RevocationUnavailable, "unavailable", $"certificate '{subject}' names no OCSP responder (authorityInfoAccess) and none is configured");

        var nonce = RandomNumberGenerator.GetBytes(16);
        var generator = new OcspReqGenerator();
        generator.AddRequest(id);
        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(nonce));
        generator.SetRequestExtensions(extensions.Generate());

        byte[] answer;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.Timeout);
            using var content = new ByteArrayContent(generator.Generate().GetEncoded());
            content.Headers.ContentType = new MediaTypeHeaderValue("application/ocsp-request");
            using var response = await _httpClient().PostAsync(url, content, timeout.Token);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
            }

            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token);
            answer = (await BoundedRead.ToEndAsync(stream, _options.MaxResponseBytes, "the OCSP response", response.Content.Headers.ContentLength, timeout.Token)).ToArray();
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or IOException or FormatException && !cancellationToken.IsCancellationRequested)
        {
            throw Fail(JwsFailure.RevocationUnavailable, "unavailable", $"OCSP responder for '{subject}' unreachable: {(ex is OperationCanceledException ? $"no answer within {_options.Timeout}" : ex.Message)}");
        }

        var single = ReadResponse(answer, id, issuer, nonce, subject);
        var now = _time.GetUtcNow();
        switch (single.GetCertStatus())
        {
            case null:
                break;
            case RevokedStatus revoked:
                throw Fail(JwsFailure.Revoked, "revoked", $"certificate '{subject}' is revoked (since {revoked.RevocationTime:u})");
            default:
                throw Fail(JwsFailure.RevocationUnknown, "unknown", $"the OCSP responder does not know certificate '{subject}'");
        }

        if (single.ThisUpdate > now.UtcDateTime + s_clockSkew || single.NextUpdate is { } stale && stale < now.UtcDateTime - s_clockSkew)
        {
            throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response for '{subject}' is not current (thisUpdate {single.ThisUpdate:u}, nextUpdate {single.NextUpdate:u})");
        }

        Count("good");
        if (single.NextUpdate is { } next)
        {
            _goodUntil[key] = new DateTimeOffset(DateTime.SpecifyKind(next, DateTimeKind.Utc));
        }
    }

    private SingleResp ReadResponse(byte[] answer, CertificateID id, X509Certificate issuer, byte[] nonce, string subject)
    {
        BasicOcspResp basic;
        try
        {
            var response = new OcspResp(answer);
            if (response.Status != OcspRespStatus.Successful)
            {
                throw Fail(JwsFailure.RevocationUnavailable, "unavailable", $"the OCSP responder for '{subject}' answered status {response.Status} (not successful)");
            }

            basic = response.GetResponseObject() as BasicOcspResp
                ?? throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response for '{subject}' is not a basic response");
        }
        catch (Exception ex) when (ex is IOException or OcspException or ArgumentException or InvalidCastException)
        {
            throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response for '{subject}' cannot be parsed");
        }

        // A replayed (or cached-by-a-middlebox) answer would carry another nonce or none (RFC 8954).
        var echoed = basic.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce) is { } value
            ? TryOctets(value.GetOctets())
            : null;
        if (echoed is null || !CryptographicOperations.FixedTimeEquals(echoed, nonce))
        {
            throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response for '{subject}' does not echo the request's nonce");
        }

        if (!SignedByIssuerOrDelegate(basic, issuer))
        {
            throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response for '{subject}' is not signed by its issuer or a responder the issuer authorised");
        }

        return basic.Responses.FirstOrDefault(r => r.GetCertID().Equals(id))
            ?? throw Fail(JwsFailure.RevocationInvalid, "invalid", $"the OCSP response does not answer for '{subject}'");
    }

    private bool SignedByIssuerOrDelegate(BasicOcspResp basic, X509Certificate issuer)
    {
        try
        {
            if (basic.Verify(issuer.GetPublicKey()))
            {
                return true;
            }

            var now = _time.GetUtcNow().UtcDateTime;
            foreach (var responder in basic.GetCerts())
            {
                // Delegated: issued by the same CA, for OCSP signing, valid now (RFC 6960 §4.2.2.2).
                if (responder.IssuerDN.Equivalent(issuer.SubjectDN)
                    && responder.GetExtendedKeyUsage().Contains(KeyPurposeID.id_kp_OCSPSigning)
                    && now >= responder.NotBefore && now <= responder.NotAfter
                    && Verifies(responder, issuer)
                    && basic.Verify(responder.GetPublicKey()))
                {
                    return true;
                }
            }

            return false;
        }
        catch (Exception ex) when (ex is OcspException or Org.BouncyCastle.Security.Certificates.CertificateException or ArgumentException)
        {
            return false;
        }
    }

    private static bool Verifies(X509Certificate certificate, X509Certificate issuer)
    {
        try
        {
            certificate.Verify(issuer.GetPublicKey());
            return true;
        }
        catch (Exception ex) when (ex is Org.BouncyCastle.Security.InvalidKeyException or Org.BouncyCastle.Security.SignatureException or Org.BouncyCastle.Security.Certificates.CertificateException)
        {
            return false;
        }
    }

    private static byte[]? TryOctets(byte[] extensionValue)
    {
        try
        {
            return Asn1OctetString.GetInstance(extensionValue).GetOctets();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static string? ResponderOf(X509Certificate certificate)
    {
        var extension = certificate.GetExtensionValue(X509Extensions.AuthorityInfoAccess);
        if (extension is null)
        {
            return null;
        }

        var access = AuthorityInformationAccess.GetInstance(Asn1Object.FromByteArray(extension.GetOctets()));
        return access.GetAccessDescriptions()
            .Where(d => d.AccessMethod.Equals(AccessDescription.IdADOcsp) && d.AccessLocation.TagNo == GeneralName.UniformResourceIdentifier)
            .Select(d => DerIA5String.GetInstance(d.AccessLocation.Name).GetString())
            .FirstOrDefault(u => u.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));
    }

    private JwsVerificationException Fail(JwsFailure failure, string outcome, string message)
    {
        Count(outcome);
        return new JwsVerificationException(failure, message);
    }

    private void Count(string outcome) =>
        _checks.Add(1, new KeyValuePair<string, object?>("component", Component), new KeyValuePair<string, object?>("outcome", outcome));
}
