using System.Globalization;
using System.Text;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Federation;

/// <summary>
/// The proxy verifies the VZD's signed list itself (Federation:AllowUnsignedList=false): a genuine list is
/// enforced; a changed byte, a replayed older version, an unsigned list, a revoked signer or an unreachable OCSP
/// responder leave the previous list in force, and readiness says why with a reason code.
/// </summary>
public sealed class SignedFederationListTests : IAsyncLifetime
{
    private static readonly TestPki s_tsl = TestPki.Create(TestPki.Brainpool, "CN=Proxy Test TSL CA, O=Test");

    private readonly string _directory = Directory.CreateTempSubdirectory("mp-signed-").FullName;
    private readonly (Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Key, Org.BouncyCastle.X509.X509Certificate Certificate) _signer = s_tsl.IssueSigner(TestPki.Brainpool);
    private RecordingUpstream _homeserver = null!;
    private RecordingUpstream _registration = null!;
    private TestOcspResponder _ocsp = null!;
    private volatile Served? _served;

    public async ValueTask InitializeAsync()
    {
        _homeserver = await RecordingUpstream.StartAsync();
        _ocsp = await TestOcspResponder.StartAsync(s_tsl);
        _registration = await RecordingUpstream.StartAsync();
        _registration.Respond = ServeAsync;
    }

    public async ValueTask DisposeAsync()
    {
        await _registration.DisposeAsync();
        await _ocsp.DisposeAsync();
        await _homeserver.DisposeAsync();
        TestDirectories.Delete(_directory);
    }

    private string Sign(long version, params string[] domains) => TestPki.SignJws(
        $$"""{"version":{{version}},"domainList":[{{string.Join(",", domains.Select(d => $$"""{"domain":"{{d}}","telematikID":"t-{{d}}","isInsurance":false}"""))}}]}""",
        "BP256R1", _signer.Key.Private, _signer.Certificate);

    private Task<ProxyHost> StartProxyAsync(params string[] extra) =>
        ProxyHost.StartAsync(_homeserver.BaseUri.ToString().TrimEnd('/'),
        [
            $"Federation:RegistrationServiceUrl={_registration.BaseUri.ToString().TrimEnd('/')}",
            "Federation:ServerName=matrix.example.org",
            $"Federation:CacheFile={Path.Combine(_directory, "federation-list.json")}",
            "Federation:PollInterval=01:00:00",
            $"Federation:TrustAnchors:0={s_tsl.WriteCaPem(_directory)}",
            $"Federation:Ocsp:ResponderUrl={_ocsp.Url}",
            "Tim:InviteCheck=Client",
            .. extra.Length == 0 ? ["Federation:AllowUnsignedList=false"] : extra,
        ]);

    private static FederationListCache Cache(ProxyHost proxy) => proxy.Services.GetRequiredService<FederationListCache>();

    private static async Task<JsonElement> FederationListHealthAsync(ProxyHost proxy)
    {
        var readiness = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        using var body = JsonDocument.Parse(readiness.Body);
        return body.RootElement.GetProperty("components").GetProperty("federation-list").Clone();
    }

    private static async Task<string> MetricsAsync(ProxyHost proxy) =>
        (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;

    [Fact]
    public async Task GenuineSignedList_IsVerifiedEnforcedAndConfirmedByVersion()
    {
        var ct = TestContext.Current.CancellationToken;
        _served = new Served(42, Sign(42, "listed.example"));
        await using var proxy = await StartProxyAsync();
        await Cache(proxy).RefreshAsync(ct);

        Assert.Equal((42L, true), (Cache(proxy).Current!.Version, Cache(proxy).Current!.IsSigned));
        Assert.Equal(FederationVerdict.Allowed, Cache(proxy).Check("listed.example").Verdict);
        Assert.Equal(FederationVerdict.NotFederated, Cache(proxy).Check("other.example").Verdict);
        var health = await FederationListHealthAsync(proxy);
        Assert.Equal("UP", health.GetProperty("status").GetString());
        Assert.True(health.GetProperty("details").GetProperty("signed").GetBoolean());

        // The next poll names the VZD version held; the service's 304 confirms it.
        await Cache(proxy).RefreshAsync(ct);
        Assert.Contains(_registration.Requests, r => r.RawTarget == "/backend/federation.jws");
        Assert.Contains(_registration.Requests, r => r.RawTarget == "/backend/federation.jws?version=42");
        Assert.DoesNotContain(_registration.Requests, r => r.RawTarget.StartsWith("/backend/federation?", StringComparison.Ordinal) || r.RawTarget == "/backend/federation");
        Assert.Contains("messengerproxy_federation_refreshes_total{outcome=\"confirmed\"}", await MetricsAsync(proxy));
    }

    [Fact]
    public async Task OneChangedByte_KeepsThePreviousList_AndReadinessSaysWhy()
    {
        var ct = TestContext.Current.CancellationToken;
        _served = new Served(42, Sign(42, "listed.example"));
        await using var proxy = await StartProxyAsync();
        await Cache(proxy).RefreshAsync(ct);

        // Version 43 with one byte of the payload changed ('a' of a domain becomes 'b').
        var parts = Sign(43, "listed.example", "new.example").Split('.');
        var payload = Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1])).Replace("new.example", "nex.example", StringComparison.Ordinal);
        _served = new Served(43, parts[0] + "." + TestPki.B64(Encoding.UTF8.GetBytes(payload)) + "." + parts[2]);
        await Cache(proxy).RefreshAsync(ct);

        Assert.Equal(42, Cache(proxy).Current!.Version);
        Assert.Equal(FederationVerdict.NotFederated, Cache(proxy).Check("nex.example").Verdict);
        Assert.Equal("signature", Cache(proxy).LastRefusal!.Code);
        var health = await FederationListHealthAsync(proxy);
        Assert.Equal("DEGRADED", health.GetProperty("status").GetString());
        Assert.Equal("signature", health.GetProperty("details").GetProperty("refused").GetString());
        Assert.Contains("refused (signature)", health.GetProperty("description").GetString());
        Assert.DoesNotContain("nex.example", health.ToString());
        Assert.Contains("messengerproxy_federation_refreshes_total{outcome=\"refused\",reason=\"signature\"}", await MetricsAsync(proxy));

        // A genuine 43 is accepted and clears the refusal.
        _served = new Served(43, Sign(43, "listed.example", "new.example"));
        await Cache(proxy).RefreshAsync(ct);
        Assert.Equal(43, Cache(proxy).Current!.Version);
        Assert.Null(Cache(proxy).LastRefusal);
        Assert.Equal("UP", (await FederationListHealthAsync(proxy)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task ReplayOfAnOlderVersion_IsRefused()
    {
        var ct = TestContext.Current.CancellationToken;
        _served = new Served(42, Sign(42, "listed.example"));
        await using var proxy = await StartProxyAsync();
        await Cache(proxy).RefreshAsync(ct);

        // Genuinely signed, but older than the version in force (a rollback to a list that still had evil.example).
        _served = new Served(41, Sign(41, "listed.example", "evil.example"));
        await Cache(proxy).RefreshAsync(ct);

        Assert.Equal(42, Cache(proxy).Current!.Version);
        Assert.Equal(FederationVerdict.NotFederated, Cache(proxy).Check("evil.example").Verdict);
        Assert.Equal("replay", Cache(proxy).LastRefusal!.Code);
    }

    [Fact]
    public async Task UnsignedList_IsRefused_UnlessAllowUnsignedList()
    {
        var ct = TestContext.Current.CancellationToken;
        _served = null;
        await using (var proxy = await StartProxyAsync())
        {
            // The service has only its plain JSON list: no signed list exists, nothing is trusted.
            await Cache(proxy).RefreshAsync(ct);
            Assert.Null(Cache(proxy).Current);
            Assert.Equal("unsigned", Cache(proxy).LastRefusal!.Code);
            var health = await FederationListHealthAsync(proxy);
            Assert.Equal("DOWN", health.GetProperty("status").GetString());
            Assert.Equal("unsigned", health.GetProperty("details").GetProperty("refused").GetString());

            // Plain JSON where the JWS should be, or a JWS with alg "none", is no better.
            _served = new Served(7, """{"version":7,"domainList":[{"domain":"listed.example","telematikID":"t"}]}""");
            await Cache(proxy).RefreshAsync(ct);
            Assert.Null(Cache(proxy).Current);
            Assert.Equal("malformed", Cache(proxy).LastRefusal!.Code);

            _served = new Served(7, TestPki.B64("""{"alg":"none"}"""u8.ToArray()) + "." + TestPki.B64("""{"version":7,"domainList":[]}"""u8.ToArray()) + ".");
            await Cache(proxy).RefreshAsync(ct);
            Assert.Null(Cache(proxy).Current);
        }

        await using (var allowing = await StartProxyAsync("Federation:AllowUnsignedList=true"))
        {
            await Cache(allowing).RefreshAsync(ct);
            Assert.Equal(FederationVerdict.Allowed, Cache(allowing).Check("plain.example").Verdict);
            Assert.False(Cache(allowing).Current!.IsSigned);
        }
    }

    [Fact]
    public async Task PersistedUnsignedCopy_IsNotTrusted_WhenASignatureIsRequired()
    {
        var ct = TestContext.Current.CancellationToken;
        await using (var allowing = await StartProxyAsync("Federation:AllowUnsignedList=true"))
        {
            await Cache(allowing).RefreshAsync(ct);
            await Cache(allowing).PersistedAsync();
        }

        _served = null;
        await using var proxy = await StartProxyAsync();

        Assert.Null(Cache(proxy).Current);
        Assert.Equal(FederationVerdict.ListUnavailable, Cache(proxy).Check("plain.example").Verdict);
    }

    [Fact]
    public async Task RevokedSigner_OrUnreachableOcspResponder_KeepsThePreviousList()
    {
        var ct = TestContext.Current.CancellationToken;
        _served = new Served(42, Sign(42, "listed.example"));
        await using var proxy = await StartProxyAsync();
        await Cache(proxy).RefreshAsync(ct);
        Assert.Equal(42, Cache(proxy).Current!.Version);

        // A new signer whose certificate is revoked signs version 43.
        var revoked = s_tsl.IssueSigner(TestPki.Brainpool);
        _ocsp.Revoke(revoked.Certificate);
        _served = new Served(43, TestPki.SignJws("""{"version":43,"domainList":[{"domain":"evil.example","telematikID":"t"}]}""", "BP256R1", revoked.Key.Private, revoked.Certificate));
        await Cache(proxy).RefreshAsync(ct);
        Assert.Equal(42, Cache(proxy).Current!.Version);
        Assert.Equal("revoked", Cache(proxy).LastRefusal!.Code);

        // The responder is down: a genuine 44 cannot be checked, so 42 stays and readiness and metrics say so.
        _ocsp.Available = false;
        _served = new Served(44, TestPki.SignJws("""{"version":44,"domainList":[{"domain":"listed.example","telematikID":"t"}]}""", "BP256R1", s_tsl.IssueSigner(TestPki.Brainpool) is var fresh ? fresh.Key.Private : null!, fresh.Certificate));
        await Cache(proxy).RefreshAsync(ct);
        Assert.Equal(42, Cache(proxy).Current!.Version);
        Assert.Equal("revocation-unavailable", Cache(proxy).LastRefusal!.Code);
        Assert.Equal("revocation-unavailable", (await FederationListHealthAsync(proxy)).GetProperty("details").GetProperty("refused").GetString());
        var metrics = await MetricsAsync(proxy);
        Assert.Contains("messengerproxy_trust_ocsp_checks_total{component=\"proxy\",outcome=\"unavailable\"}", metrics);
        Assert.Contains("messengerproxy_trust_ocsp_checks_total{component=\"proxy\",outcome=\"revoked\"}", metrics);

        // Back up: 44 is accepted.
        _ocsp.Available = true;
        await Cache(proxy).RefreshAsync(ct);
        Assert.Equal(44, Cache(proxy).Current!.Version);
    }

    [Fact]
    public void Startup_WithoutTrustAnchors_IsRefusedUnlessUnsignedListsAreAllowed()
    {
        var options = new FederationOptions { RegistrationServiceUrl = "http://registration:8080" };

        var result = new FederationOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Federation:TrustAnchors is empty", result.FailureMessage);
        options.AllowUnsignedList = true;
        Assert.True(new FederationOptionsValidator().Validate(null, options).Succeeded);
    }

    private async Task ServeAsync(HttpContext context, RecordedRequest request)
    {
        if (request.RawTarget.StartsWith("/backend/federation.jws", StringComparison.Ordinal))
        {
            if (_served is not { } served)
            {
                context.Response.StatusCode = 404;
                return;
            }

            if (context.Request.Query["version"] is { Count: 1 } held && held[0] == served.Version.ToString(CultureInfo.InvariantCulture))
            {
                context.Response.StatusCode = 304;
                return;
            }

            context.Response.ContentType = "application/jose";
            await context.Response.WriteAsync(served.Body);
            return;
        }

        if (request.RawTarget.StartsWith("/backend/federation", StringComparison.Ordinal))
        {
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync("""{"version":1,"domainList":[{"domain":"plain.example","telematikID":"t","isInsurance":false,"ik":[]}]}""");
            return;
        }

        context.Response.StatusCode = 404;
    }

    private sealed record Served(long Version, string Body);
}
