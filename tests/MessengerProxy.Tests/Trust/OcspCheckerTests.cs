using System.Diagnostics.Metrics;
using MessengerProxy.Tests.TestKit;
using MessengerProxy.Trust;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Trust;

/// <summary>
/// OCSP for every certificate of a signed list's path, against a stand-in responder answering real BouncyCastle
/// OCSP responses: good accepted; revoked, unknown, unreachable, a wrong nonce or a foreign signature refused
/// (each with its own reason code); good statuses reused until nextUpdate.
/// </summary>
public sealed class OcspCheckerTests : IAsyncLifetime
{
    private static readonly TestPki s_root = TestPki.Create(TestPki.Brainpool, "CN=OCSP Test Root, O=Test");
    private static readonly TestPki s_stranger = TestPki.Create(TestPki.P256, "CN=Stranger, O=Evil");

    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().AddHttpClient().BuildServiceProvider();
    private readonly ManualTimeProvider _time = new(DateTimeOffset.UtcNow);
    private TestOcspResponder _responder = null!;

    public async ValueTask InitializeAsync()
    {
        _responder = await TestOcspResponder.StartAsync(s_root);
        _responder.Time = _time;
    }

    public async ValueTask DisposeAsync()
    {
        await _responder.DisposeAsync();
        await _services.DisposeAsync();
    }

    private OcspChecker Checker(string? responderUrl = null) => new(
        () => _services.GetRequiredService<IHttpClientFactory>().CreateClient(),
        new OcspOptions { ResponderUrl = responderUrl, Timeout = TimeSpan.FromSeconds(30) },
        _time, _services.GetRequiredService<IMeterFactory>(), "test");

    private SignedJws Signed(out Org.BouncyCastle.X509.X509Certificate signer, TestPki? issuer = null, params Org.BouncyCastle.X509.X509Certificate[] intermediates)
    {
        var (key, certificate) = (issuer ?? s_root).IssueSigner(TestPki.Brainpool, ocspUrl: _responder.Url);
        signer = certificate;
        var jws = TestPki.SignJws("{}", "BP256R1", key.Private, [certificate, .. intermediates]);
        return new SignedJwsVerifier([s_root.Ca], ["BP256R1"], _time).Verify(jws);
    }

    [Fact]
    public async Task Good_IsAccepted_FromTheResponderTheCertificateNames()
    {
        await Checker().CheckAsync(Signed(out _), TestContext.Current.CancellationToken);

        Assert.Equal(1, _responder.Calls);
    }

    [Fact]
    public async Task Revoked_IsRefused()
    {
        var jws = Signed(out var signer);
        _responder.Revoke(signer);

        var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));

        Assert.Equal(JwsFailure.Revoked, ex.Failure);
        Assert.Contains("is revoked", ex.Message);
    }

    [Fact]
    public async Task Unknown_IsRefused()
    {
        var jws = Signed(out var signer);
        _responder.MarkUnknown(signer);

        var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));

        Assert.Equal(JwsFailure.RevocationUnknown, ex.Failure);
    }

    [Fact]
    public async Task UnreachableOrFailingResponder_IsRevocationUnavailable()
    {
        var jws = Signed(out _);
        _responder.Available = false;
        var failing = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));
        Assert.Equal(JwsFailure.RevocationUnavailable, failing.Failure);

        // Nobody listens on port 1.
        var unreachable = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker("http://127.0.0.1:1/ocsp").CheckAsync(jws, TestContext.Current.CancellationToken));
        Assert.Equal(JwsFailure.RevocationUnavailable, unreachable.Failure);
        Assert.Contains("unreachable", unreachable.Message);
    }

    [Fact]
    public async Task NonceMismatch_IsRefused()
    {
        var jws = Signed(out _);
        _responder.WrongNonce = true;

        var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));

        Assert.Equal(JwsFailure.RevocationInvalid, ex.Failure);
        Assert.Contains("nonce", ex.Message);
    }

    [Fact]
    public async Task Response_SignedByAnyoneButTheIssuerOrItsDelegate_IsRefused()
    {
        var jws = Signed(out _);

        // A responder certificate the issuer issued for OCSP signing is accepted.
        _responder.Responder = s_root.IssueOcspResponder();
        await Checker().CheckAsync(jws, TestContext.Current.CancellationToken);

        // One the issuer issued for something else, or one from another CA, is not.
        foreach (var responder in new[] { s_root.IssueOcspResponder(ocspSigning: false), s_stranger.IssueOcspResponder() })
        {
            _responder.Responder = responder;
            var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));
            Assert.Equal(JwsFailure.RevocationInvalid, ex.Failure);
            Assert.Contains("not signed by its issuer", ex.Message);
        }
    }

    [Fact]
    public async Task EveryCertificateOfThePath_IsChecked()
    {
        var intermediate = s_root.IssueSubCa(TestPki.Brainpool, ocspUrl: _responder.Url);
        await using var responder = await TestOcspResponder.StartAsync(s_root, intermediate);
        responder.Time = _time;
        var (key, signer) = intermediate.IssueSigner(TestPki.Brainpool);
        var jws = new SignedJwsVerifier([s_root.Ca], ["BP256R1"], _time).Verify(TestPki.SignJws("{}", "BP256R1", key.Private, signer, intermediate.Ca));
        var checker = Checker(responder.Url);

        await checker.CheckAsync(jws, TestContext.Current.CancellationToken);
        Assert.Equal(2, responder.Calls);

        // The intermediate revoked: the list is refused although its signer is good.
        responder.Revoke(intermediate.Ca);
        var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker(responder.Url).CheckAsync(jws, TestContext.Current.CancellationToken));
        Assert.Equal(JwsFailure.Revoked, ex.Failure);
        Assert.Contains("Test Sub CA", ex.Message);
    }

    [Fact]
    public async Task GoodStatus_IsReusedUntilNextUpdate()
    {
        var jws = Signed(out _);
        var checker = Checker();
        _responder.Validity = TimeSpan.FromHours(1);

        await checker.CheckAsync(jws, TestContext.Current.CancellationToken);
        _time.Advance(TimeSpan.FromMinutes(59));
        await checker.CheckAsync(jws, TestContext.Current.CancellationToken);
        Assert.Equal(1, _responder.Calls);

        _time.Advance(TimeSpan.FromMinutes(2));
        await checker.CheckAsync(jws, TestContext.Current.CancellationToken);
        Assert.Equal(2, _responder.Calls);

        // Without nextUpdate nothing is cached.
        _responder.Validity = null;
        var fresh = Checker();
        await fresh.CheckAsync(jws, TestContext.Current.CancellationToken);
        await fresh.CheckAsync(jws, TestContext.Current.CancellationToken);
        Assert.Equal(4, _responder.Calls);
    }

    [Fact]
    public async Task NoResponderNamedOrConfigured_IsRevocationUnavailable()
    {
        var (key, signer) = s_root.IssueSigner(TestPki.Brainpool);
        var jws = new SignedJwsVerifier([s_root.Ca], ["BP256R1"], _time).Verify(TestPki.SignJws("{}", "BP256R1", key.Private, signer));

        var ex = await Assert.ThrowsAsync<JwsVerificationException>(() => Checker().CheckAsync(jws, TestContext.Current.CancellationToken));

        Assert.Equal(JwsFailure.RevocationUnavailable, ex.Failure);
        Assert.Contains("names no OCSP responder", ex.Message);
    }
}
