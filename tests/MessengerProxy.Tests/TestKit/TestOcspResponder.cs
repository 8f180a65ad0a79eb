using System.Collections.Concurrent;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Ocsp;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Ocsp;
using Org.BouncyCastle.X509;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// A stand-in OCSP responder: a Kestrel host on loopback that answers real BouncyCastle OCSP responses for the
/// certificates of the CAs it serves, signed by the issuing CA (or a delegated responder), echoing the nonce
/// unless told otherwise. Statuses are good unless a serial is marked revoked or unknown.
/// </summary>
public sealed class TestOcspResponder : IAsyncDisposable
{
    private readonly RecordingUpstream _server;
    private readonly List<TestPki> _cas;
    private readonly ConcurrentDictionary<BigInteger, string> _status = new();
    private int _calls;

    private TestOcspResponder(RecordingUpstream server, IEnumerable<TestPki> cas)
    {
        _server = server;
        _cas = cas.ToList();
        server.Respond = RespondAsync;
    }

    public string Url => _server.BaseUri + "ocsp";

    /// <summary>Requests answered so far.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>How long a response is valid (nextUpdate − thisUpdate); null sends no nextUpdate.</summary>
    public TimeSpan? Validity { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The clock the responder stamps thisUpdate/nextUpdate with.</summary>
    public TimeProvider Time { get; set; } = TimeProvider.System;

    /// <summary>Answer with a nonce other than the request's.</summary>
    public bool WrongNonce { get; set; }

    /// <summary>Sign with this key (and include this certificate) instead of the issuing CA's.</summary>
    public (AsymmetricCipherKeyPair Key, X509Certificate Certificate)? Responder { get; set; }

    /// <summary>When false, every request is answered 503.</summary>
    public bool Available { get; set; } = true;

    public static async Task<TestOcspResponder> StartAsync(params TestPki[] cas) => new(await RecordingUpstream.StartAsync(), cas);

    public void Revoke(X509Certificate certificate) => _status[certificate.SerialNumber] = "revoked";

    public void MarkUnknown(X509Certificate certificate) => _status[certificate.SerialNumber] = "unknown";

    public void MarkGood(X509Certificate certificate) => _status.TryRemove(certificate.SerialNumber, out _);

    public ValueTask DisposeAsync() => _server.DisposeAsync();

    private async Task RespondAsync(Microsoft.AspNetCore.Http.HttpContext context, RecordedRequest request)
    {
        Interlocked.Increment(ref _calls);
        if (!Available)
        {
            context.Response.StatusCode = 503;
            return;
        }

        var ocspRequest = new OcspReq(request.Body);
        var nonce = ocspRequest.GetExtensionValue(OcspObjectIdentifiers.PkixOcspNonce) is { } value
            ? Asn1OctetString.GetInstance(value.GetOctets()).GetOctets()
            : [];
        var ids = ocspRequest.GetRequestList().Select(r => r.GetCertID()).ToList();
        var issuer = _cas.First(ca => ids[0].MatchesIssuer(ca.Ca));
        var (key, certificate) = Responder ?? (issuer.CaKey, issuer.Ca);

        var generator = new BasicOcspRespGenerator(certificate.GetPublicKey());
        var now = Time.GetUtcNow().UtcDateTime;
        foreach (var id in ids)
        {
            CertificateStatus? status = _status.TryGetValue(id.SerialNumber, out var s)
                ? s == "revoked" ? new RevokedStatus(now.AddDays(-1), CrlReason.KeyCompromise) : new UnknownStatus()
                : CertificateStatus.Good;
            generator.AddResponse(id, status, now, Validity is { } validity ? now + validity : null, null);
        }

        var extensions = new X509ExtensionsGenerator();
        extensions.AddExtension(OcspObjectIdentifiers.PkixOcspNonce, false, new DerOctetString(WrongNonce ? [.. nonce.Select(b => (byte)~b)] : nonce));
        generator.SetResponseExtensions(extensions.Generate());
        var basic = generator.Generate(new Asn1SignatureFactory("SHA256WITHECDSA", key.Private), Responder is null ? null : [certificate], now);
        var response = new OCSPRespGenerator().Generate(OCSPRespGenerator.Successful, basic);
        context.Response.ContentType = "application/ocsp-response";
        await context.Response.Body.WriteAsync(response.GetEncoded());
    }
}
