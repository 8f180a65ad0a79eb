using System.Net;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Registration;

/// <summary>
/// The registration service keeps the exact JWS of every VZD import and serves the newest one at
/// <c>/backend/federation.jws</c> (304 by VZD version or ETag); imports are checked by OCSP; a real proxy
/// verifies what it serves.
/// </summary>
public sealed class SignedListServingTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly TestPki s_tsl = TestPki.Create(TestPki.Brainpool, "CN=Registration Test TSL CA, O=Test");

    private readonly string _directory = Directory.CreateTempSubdirectory("mp-regjws-").FullName;
    private TestOcspResponder _ocsp = null!;
    private RegistrationHost _host = null!;

    public async ValueTask InitializeAsync()
    {
        _ocsp = await TestOcspResponder.StartAsync(s_tsl);
        _host = await RegistrationHost.StartAsync(postgres,
            $"Registration:Vzd:TrustAnchors:0={s_tsl.WriteCaPem(_directory)}",
            $"Registration:Vzd:Ocsp:ResponderUrl={_ocsp.Url}");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _ocsp.DisposeAsync();
        TestDirectories.Delete(_directory);
    }

    private static string Sign(long version, (Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Key, Org.BouncyCastle.X509.X509Certificate Certificate) signer, params string[] domains) => TestPki.SignJws(
        $$"""{"version":{{version}},"domainList":[{{string.Join(",", domains.Select(d => $$"""{"domain":"{{d}}","telematikID":"t-{{d}}","isInsurance":false}"""))}}]}""",
        "BP256R1", signer.Key.Private, signer.Certificate);

    [Fact]
    public async Task ImportedJws_IsServedExactly_WithVzdVersionAnd304()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = _host.CreateClient();
        using (var none = await client.GetAsync("/backend/federation.jws", ct))
        {
            await RegistrationApiTests.AssertErrorAsync(none, HttpStatusCode.NotFound, "M_NOT_FOUND");
        }

        var jws = Sign(42, s_tsl.IssueSigner(TestPki.Brainpool), "praxis.example.org");
        using (var imported = await client.PostAsync("/admin/federation/import", new StringContent(jws), ct))
        {
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        // A hand edit afterwards changes the JSON list, not the signed one.
        using (var added = await client.PostAsync("/admin/federation/domains", new StringContent("""{"domain":"hand.example.org","telematikID":"t"}"""), ct))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }

        using var served = await client.GetAsync("/backend/federation.jws", ct);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Equal(jws, await served.Content.ReadAsStringAsync(ct));
        Assert.Equal("application/jose", served.Content.Headers.ContentType!.MediaType);
        Assert.Equal("\"vzd-42\"", served.Headers.ETag!.Tag);

        using (var held = await client.GetAsync("/backend/federation.jws?version=42", ct))
        {
            Assert.Equal(HttpStatusCode.NotModified, held.StatusCode);
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/backend/federation.jws"))
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", "\"vzd-42\"");
            using var byEtag = await client.SendAsync(request, ct);
            Assert.Equal(HttpStatusCode.NotModified, byEtag.StatusCode);
        }

        using (var older = await client.GetAsync("/backend/federation.jws?version=41", ct))
        {
            Assert.Equal(HttpStatusCode.OK, older.StatusCode);
        }

        using (var bad = await client.GetAsync("/backend/federation.jws?version=x", ct))
        {
            await RegistrationApiTests.AssertErrorAsync(bad, HttpStatusCode.BadRequest, "M_INVALID_PARAM");
        }

        // Still the version the VZD signed after a newer import; the newer one replaces it.
        var newer = Sign(43, s_tsl.IssueSigner(TestPki.Brainpool), "praxis.example.org", "neu.example.org");
        using (var imported = await client.PostAsync("/admin/federation/import", new StringContent(newer), ct))
        {
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        Assert.Equal(newer, await client.GetStringAsync("/backend/federation.jws", ct));
    }

    [Fact]
    public async Task Import_IsRefused_WhenAnyCertificateIsNotGood_OrTheResponderIsDown()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = _host.CreateClient();
        var revoked = s_tsl.IssueSigner(TestPki.Brainpool);
        _ocsp.Revoke(revoked.Certificate);
        using (var response = await client.PostAsync("/admin/federation/import", new StringContent(Sign(5, revoked, "a.example.org")), ct))
        {
            await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "is revoked");
        }

        var unknown = s_tsl.IssueSigner(TestPki.Brainpool);
        _ocsp.MarkUnknown(unknown.Certificate);
        using (var response = await client.PostAsync("/admin/federation/import", new StringContent(Sign(6, unknown, "a.example.org")), ct))
        {
            await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "does not know certificate");
        }

        _ocsp.Available = false;
        using (var response = await client.PostAsync("/admin/federation/import", new StringContent(Sign(7, s_tsl.IssueSigner(TestPki.Brainpool), "a.example.org")), ct))
        {
            await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "OCSP responder");
        }

        Assert.Null(await _host.Database.Federation.GetLatestVersionAsync(ct));

        _ocsp.Available = true;
        using (var response = await client.PostAsync("/admin/federation/import", new StringContent(Sign(8, s_tsl.IssueSigner(TestPki.Brainpool), "a.example.org")), ct))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task VzdListThatCannotBeChecked_IsRefused_AndReadinessSaysWhy()
    {
        var ct = TestContext.Current.CancellationToken;
        var jws = Sign(9, s_tsl.IssueSigner(TestPki.Brainpool), "praxis.example.org");
        await using var vzd = await RecordingUpstream.StartAsync();
        vzd.Respond = (context, request) => context.Response.WriteAsync(jws);
        await using var ocsp = await TestOcspResponder.StartAsync(s_tsl);
        ocsp.Available = false;
        await using var host = await RegistrationHost.StartAsync(postgres,
            $"Registration:Vzd:TrustAnchors:0={s_tsl.WriteCaPem(_directory)}",
            $"Registration:Vzd:Ocsp:ResponderUrl={ocsp.Url}",
            $"Registration:Vzd:FederationListUrl={vzd.BaseUri}federationList.jws",
            "Registration:Vzd:PollInterval=01:00:00");
        var fetcher = host.Services.GetRequiredService<MessengerProxy.Registration.Vzd.VzdFederationListFetcher>();

        // The service fetches once as it starts; a fetch of the test's own could finish before that one and be
        // overwritten by it, so the test waits for the start-up fetch to have been refused.
        await Poll.UntilAsync(async () =>
            (await RegistrationFederationListHealthAsync(host)) is var health
            && health.TryGetProperty("details", out var details) && details.TryGetProperty("refused", out _), "the start-up fetch refused");

        Assert.Null(await host.Database.Federation.GetLatestVersionAsync(ct));
        var list = await RegistrationFederationListHealthAsync(host);
        Assert.Equal("DEGRADED", list.GetProperty("status").GetString());
        Assert.Equal("revocation-unavailable", list.GetProperty("details").GetProperty("refused").GetString());
        Assert.True(ocsp.Calls > 0);

        ocsp.Available = true;
        await fetcher.FetchOnceAsync(ct);

        Assert.Equal(9, (await host.Database.Federation.GetLatestVersionAsync(ct))!.SourceVersion);
        list = await RegistrationFederationListHealthAsync(host);
        Assert.Equal("UP", list.GetProperty("status").GetString());
        Assert.False(list.GetProperty("details").TryGetProperty("refused", out _));
    }

    private static async Task<JsonElement> RegistrationFederationListHealthAsync(RegistrationHost host)
    {
        var readiness = await RawHttp.SendAsync(host.HealthPort, RawHttp.Request("GET", "/actuator/health/readiness"));
        using var body = JsonDocument.Parse(readiness.Body);
        return body.RootElement.GetProperty("components").GetProperty("federation-list").Clone();
    }

    [Fact]
    public async Task AProxy_VerifiesTheListTheServiceServes()
    {
        var ct = TestContext.Current.CancellationToken;
        using var client = _host.CreateClient();
        using (var imported = await client.PostAsync("/admin/federation/import", new StringContent(Sign(42, s_tsl.IssueSigner(TestPki.Brainpool), "praxis.example.org")), ct))
        {
            Assert.Equal(HttpStatusCode.OK, imported.StatusCode);
        }

        await using var homeserver = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.BaseUri.ToString().TrimEnd('/'),
            $"Federation:RegistrationServiceUrl={_host.ApiUri.ToString().TrimEnd('/')}",
            "Federation:ServerName=matrix.example.org",
            "Federation:PollInterval=01:00:00",
            "Federation:AllowUnsignedList=false",
            $"Federation:TrustAnchors:0={s_tsl.WriteCaPem(_directory)}",
            $"Federation:Ocsp:ResponderUrl={_ocsp.Url}",
            "Tim:InviteCheck=Client");
        var cache = proxy.Services.GetRequiredService<FederationListCache>();
        await cache.RefreshAsync(ct);

        Assert.Equal((42L, true), (cache.Current!.Version, cache.Current.IsSigned));
        Assert.Equal(FederationVerdict.Allowed, cache.Check("praxis.example.org").Verdict);
        await cache.RefreshAsync(ct);
        Assert.Null(cache.LastRefusal);
        Assert.Null(cache.LastError);
    }
}
