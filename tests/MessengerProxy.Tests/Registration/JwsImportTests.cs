using System.Net;
using System.Text;
using System.Text.Json;
using MessengerProxy.Registration.Jws;
using MessengerProxy.Tests.TestKit;
using MessengerProxy.Trust;

namespace MessengerProxy.Tests.Registration;

/// <summary>The VZD's signed federation list: accepted when genuine, refused with a reason otherwise, previous list kept.</summary>
public sealed class JwsImportTests
{
    private const string Payload = """{"version":42,"domainList":[{"domain":"praxis.example.org","telematikID":"1-2345","isInsurance":false,"timAnbieter":"Anbieter A"},{"domain":"kasse.example.org","telematikID":"8-01","isInsurance":true,"ik":["109500969"]}]}""";

    private static readonly TestPki s_brainpool = TestPki.Create(TestPki.Brainpool);
    private static readonly TestPki s_p256 = TestPki.Create(TestPki.P256, "CN=Test P-256 Root, O=Test");
    private static readonly TestPki s_stranger = TestPki.Create(TestPki.Brainpool, "CN=Someone Else, O=Evil");

    private static FederationListJwsVerifier Verifier(params TestPki[] anchors) =>
        new(anchors.Select(a => a.Ca), ["BP256R1", "ES256"], TimeProvider.System);

    [Fact]
    public void Bp256r1_SignedByTrustedChain_IsAccepted()
    {
        var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
        var jws = TestPki.SignJws(Payload, "BP256R1", key.Private, signer);

        var list = Verifier(s_brainpool).Verify(jws);

        Assert.Equal(42, list.SourceVersion);
        Assert.Equal(["praxis.example.org", "kasse.example.org"], list.Domains.Select(d => d.Domain));
        Assert.Equal("BP256R1", list.Algorithm);
        Assert.Contains("VZD FedList Signer", list.Signer);
    }

    [Fact]
    public void Es256_WithIntermediateInX5c_IsAccepted()
    {
        // Root -> intermediate CA -> signer; x5c carries signer and intermediate, only the root is trusted.
        var intermediate = s_p256.IssueSubCa(TestPki.P256);
        var (key, signer) = intermediate.IssueSigner(TestPki.P256);
        var jws = TestPki.SignJws(Payload, "ES256", key.Private, signer, intermediate.Ca);

        Assert.Equal(42, Verifier(s_p256).Verify(jws).SourceVersion);

        // Without the intermediate in x5c the chain cannot be built.
        var ex = Assert.Throws<JwsVerificationException>(() => Verifier(s_p256).Verify(TestPki.SignJws(Payload, "ES256", key.Private, signer)));
        Assert.Contains("does not chain to a trust anchor", ex.Message);
    }

    public static TheoryData<string, string> Forgeries()
    {
        var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
        var (p256Key, p256Signer) = s_brainpool.IssueSigner(TestPki.P256);
        var (expiredKey, expired) = s_brainpool.IssueSigner(TestPki.Brainpool, DateTime.UtcNow.AddYears(-2), DateTime.UtcNow.AddDays(-1));
        var (futureKey, future) = s_brainpool.IssueSigner(TestPki.Brainpool, DateTime.UtcNow.AddDays(1), DateTime.UtcNow.AddYears(1));
        var (strangerKey, strangerSigner) = s_stranger.IssueSigner(TestPki.Brainpool);
        var otherKey = TestPki.NewKey(TestPki.Brainpool);
        var valid = TestPki.SignJws(Payload, "BP256R1", key.Private, signer);
        var parts = valid.Split('.');
        var x5c = "[\"" + Convert.ToBase64String(signer.GetEncoded()) + "\"]";

        return new TheoryData<string, string>
        {
            { parts[0] + "." + TestPki.B64(Encoding.UTF8.GetBytes(Payload.Replace("42", "43", StringComparison.Ordinal))) + "." + parts[2], "signature: does not verify" },
            { TestPki.SignJws(Payload, "BP256R1", otherKey.Private, signer), "signature: does not verify" },
            { TestPki.SignJws(Payload, "ES256", key.Private, signer), "ES256 needs an EC key on" },
            { TestPki.SignJws(Payload, "BP256R1", p256Key.Private, p256Signer), "BP256R1 needs an EC key on" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"none\",\"x5c\":" + x5c + "}", Payload, key.Private), "header.alg: 'none' is not an accepted algorithm" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"HS256\",\"x5c\":" + x5c + "}", Payload, key.Private), "header.alg: 'HS256'" },
            { TestPki.SignJwsWithHeader("{\"x5c\":" + x5c + "}", Payload, key.Private), "header.alg: '(missing)'" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"BP256R1\"}", Payload, key.Private), "header.x5c: the signer certificate is missing" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"BP256R1\",\"x5c\":[\"bm90IGEgY2VydA==\"]}", Payload, key.Private), "header.x5c[0]: not a base64 DER certificate" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"BP256R1\",\"x5c\":" + x5c + ",\"crit\":[\"exp\"]}", Payload, key.Private), "critical header parameters are not supported" },
            { TestPki.SignJwsWithHeader("{\"alg\":\"BP256R1\",\"x5c\":" + x5c + ",\"jku\":\"https://evil.example/keys\"}", Payload, key.Private), "key references other than x5c" },
            { TestPki.SignJws(Payload, "BP256R1", expiredKey.Private, expired), "is not valid now" },
            { TestPki.SignJws(Payload, "BP256R1", futureKey.Private, future), "is not valid now" },
            { TestPki.SignJws(Payload, "BP256R1", strangerKey.Private, strangerSigner), "does not chain to a trust anchor" },
            { TestPki.SignJws(Payload, "BP256R1", s_brainpool.CaKey.Private, s_brainpool.Ca), "may not be used for digital signatures" },
            { TestPki.SignJws("""{"domainList":[]}""", "BP256R1", key.Private, signer), "payload: version: required" },
            { TestPki.SignJws("""{"version":1,"domainList":[{"domain":"x y","telematikID":"1"}]}""", "BP256R1", key.Private, signer), "payload: domainList[0].domain:" },
            { TestPki.SignJws("""{"version":1,"domainList":[{"domain":"a.example.org","telematikID":"\ud800"}]}""", "BP256R1", key.Private, signer), "payload: the body is not valid JSON: the string at byte offset" },
            { SignRawPayload([.. "{\"version\":1,\"domainList\":[{\"domain\":\"a.example.org\",\"telematikID\":\""u8, 0xFF, .. "\"}]}"u8], key.Private, signer), "payload: the body is not valid JSON: invalid UTF-8 at byte offset 68" },
            { "\u212A" + valid, "not a compact JWS: character 0 is not ASCII" },
            { valid[..10] + "\uFFFD" + valid[10..], "not a compact JWS: character 10 is not ASCII" },
            { TestPki.SignJws("""{"version":1,"domainList":[]}""", "BP256R1", key.Private, signer), "payload: domainList: empty" },
            { "only.two", "not a compact JWS" },
            { "a.b.c.d", "not a compact JWS" },
            { "@@@." + parts[1] + "." + parts[2], "header: not base64url" },
            { parts[0] + "." + parts[1] + "." + parts[2][..20], "signature: BP256R1 signatures are 64 bytes" },
        };
    }

    [Theory]
    [MemberData(nameof(Forgeries))]
    public void Forged_Or_Malformed_Lists_AreRefusedWithAReason(string jws, string reason)
    {
        var ex = Assert.Throws<JwsVerificationException>(() => Verifier(s_brainpool).Verify(jws));
        Assert.Contains(reason, ex.Message);
    }

    [Fact]
    public void SignerValidity_IsJudgedAtTheVerifiersTime()
    {
        var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool, DateTime.UtcNow.AddDays(-10), DateTime.UtcNow.AddDays(10));
        var jws = TestPki.SignJws(Payload, "BP256R1", key.Private, signer);
        var later = new FixedTime(DateTimeOffset.UtcNow.AddDays(30));

        var ex = Assert.Throws<JwsVerificationException>(() => new FederationListJwsVerifier([s_brainpool.Ca], ["BP256R1"], later).Verify(jws));

        Assert.Contains("is not valid now", ex.Message);
    }

    [Fact]
    public void AlgorithmNotEnabled_IsRefused()
    {
        var (key, signer) = s_p256.IssueSigner(TestPki.P256);
        var jws = TestPki.SignJws(Payload, "ES256", key.Private, signer);

        var ex = Assert.Throws<JwsVerificationException>(() => new FederationListJwsVerifier([s_p256.Ca], ["BP256R1"], TimeProvider.System).Verify(jws));

        Assert.Contains("'ES256' is not an accepted algorithm", ex.Message);
    }

    [Fact]
    public void EmptySignedList_IsAcceptedOnlyWhenAllowed()
    {
        var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
        var jws = TestPki.SignJws("""{"version":9,"domainList":[]}""", "BP256R1", key.Private, signer);

        var ex = Assert.Throws<JwsVerificationException>(() => Verifier(s_brainpool).Verify(jws));
        Assert.Contains("payload: domainList: empty", ex.Message);

        var list = Verifier(s_brainpool).Verify(jws, allowEmpty: true);
        Assert.Equal((9L, 0), (list.SourceVersion, list.Domains.Count));
    }

    [Fact]
    public void NoTrustAnchors_RefusesEverything()
    {
        var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
        var ex = Assert.Throws<JwsVerificationException>(() => Verifier().Verify(TestPki.SignJws(Payload, "BP256R1", key.Private, signer)));
        Assert.Contains("no trust anchors", ex.Message);
    }

    /// <summary>A compact JWS over raw payload bytes, which need not be UTF-8 (TestPki signs text).</summary>
    private static string SignRawPayload(byte[] payload, Org.BouncyCastle.Crypto.AsymmetricKeyParameter key, Org.BouncyCastle.X509.X509Certificate signer)
    {
        var header = "{\"alg\":\"BP256R1\",\"x5c\":[\"" + Convert.ToBase64String(signer.GetEncoded()) + "\"]}";
        var input = TestPki.B64(Encoding.UTF8.GetBytes(header)) + "." + TestPki.B64(payload);
        var ecdsa = Org.BouncyCastle.Security.SignerUtilities.GetSigner("SHA-256withPLAIN-ECDSA");
        ecdsa.Init(true, key);
        var bytes = Encoding.ASCII.GetBytes(input);
        ecdsa.BlockUpdate(bytes, 0, bytes.Length);
        return input + "." + TestPki.B64(ecdsa.GenerateSignature());
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    public sealed class ThroughTheAdminApi(PostgresFixture postgres) : IAsyncLifetime
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("mp-jws-").FullName;
        private RegistrationHost _host = null!;

        public async ValueTask InitializeAsync() =>
            _host = await RegistrationHost.StartAsync(postgres, $"Registration:Vzd:TrustAnchors:0={s_brainpool.WriteCaPem(_directory)}");

        public async ValueTask DisposeAsync()
        {
            await _host.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }

        [Fact]
        public async Task Import_StoresVerifiedList_RefusesForgeryAndReplay_PreviousListStays()
        {
            var ct = TestContext.Current.CancellationToken;
            using var admin = _host.CreateClient();
            var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
            var (strangerKey, strangerSigner) = s_stranger.IssueSigner(TestPki.Brainpool);

            using var accepted = await admin.PostAsync("/admin/federation/import", new StringContent(TestPki.SignJws(Payload, "BP256R1", key.Private, signer)), ct);
            Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
            using (var body = JsonDocument.Parse(await accepted.Content.ReadAsStringAsync(ct)))
            {
                Assert.Equal(1, body.RootElement.GetProperty("version").GetInt64());
                Assert.Equal(42, body.RootElement.GetProperty("sourceVersion").GetInt64());
                Assert.Equal(2, body.RootElement.GetProperty("domainCount").GetInt32());
            }

            using var forged = await admin.PostAsync("/admin/federation/import",
                new StringContent(TestPki.SignJws(Payload.Replace("42", "50", StringComparison.Ordinal).Replace("praxis", "evil", StringComparison.Ordinal), "BP256R1", strangerKey.Private, strangerSigner)), ct);
            await RegistrationApiTests.AssertErrorAsync(forged, (HttpStatusCode)422, "M_INVALID_PARAM", "does not chain to a trust anchor");

            using var replay = await admin.PostAsync("/admin/federation/import", new StringContent(TestPki.SignJws(Payload, "BP256R1", key.Private, signer)), ct);
            await RegistrationApiTests.AssertErrorAsync(replay, (HttpStatusCode)422, "M_INVALID_PARAM", "not newer than the last imported version 42");

            var latest = await _host.Database.Federation.GetLatestAsync(ct);
            Assert.Equal(1, latest!.Version);
            Assert.Equal(["kasse.example.org", "praxis.example.org"], latest.Domains.Select(d => d.Domain));

            var newer = TestPki.SignJws(Payload.Replace("42", "43", StringComparison.Ordinal).Replace("praxis.", "praxis2.", StringComparison.Ordinal), "BP256R1", key.Private, signer);
            using var update = await admin.PostAsync("/admin/federation/import", new StringContent(newer), ct);
            Assert.Equal(HttpStatusCode.OK, update.StatusCode);
            Assert.Contains("praxis2.example.org", (await _host.Database.Federation.GetLatestAsync(ct))!.Domains.Select(d => d.Domain));
        }

        [Fact]
        public async Task Import_OfABodyOrPayloadThatIsNotUnicodeText_Is422_AndChangesNothing()
        {
            var ct = TestContext.Current.CancellationToken;
            using var admin = _host.CreateClient();
            var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
            var valid = TestPki.SignJws(Payload, "BP256R1", key.Private, signer);

            // A raw 0xFF inside the compact form; a payload with a raw 0xFF in a string; a payload with a lone surrogate escape.
            var rawBody = new ByteArrayContent([.. Encoding.ASCII.GetBytes(valid[..30]), 0xFF, .. Encoding.ASCII.GetBytes(valid[30..])]);
            using (var response = await admin.PostAsync("/admin/federation/import", rawBody, ct))
            {
                await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "not a compact JWS: character 30 is not ASCII");
            }

            var rawPayload = SignRawPayload([.. "{\"version\":50,\"domainList\":[{\"domain\":\"a.example.org\",\"telematikID\":\""u8, 0xFF, .. "\"}]}"u8], key.Private, signer);
            using (var response = await admin.PostAsync("/admin/federation/import", new StringContent(rawPayload), ct))
            {
                await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "payload: the body is not valid JSON: invalid UTF-8");
            }

            var surrogate = TestPki.SignJws("""{"version":51,"domainList":[{"domain":"a.example.org","telematikID":"\udfff"}]}""", "BP256R1", key.Private, signer);
            using (var response = await admin.PostAsync("/admin/federation/import", new StringContent(surrogate), ct))
            {
                await RegistrationApiTests.AssertErrorAsync(response, (HttpStatusCode)422, "M_INVALID_PARAM", "payload: the body is not valid JSON: the string at byte offset");
            }

            Assert.Null(await _host.Database.Federation.GetLatestVersionAsync(ct));
        }

        [Fact]
        public async Task Import_OfAnEmptySignedList_Is422_UnlessAllowEmpty()
        {
            var ct = TestContext.Current.CancellationToken;
            using var admin = _host.CreateClient();
            var (key, signer) = s_brainpool.IssueSigner(TestPki.Brainpool);
            using (var first = await admin.PostAsync("/admin/federation/import", new StringContent(TestPki.SignJws(Payload, "BP256R1", key.Private, signer)), ct))
            {
                Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            }

            var empty = TestPki.SignJws("""{"version":43,"domainList":[]}""", "BP256R1", key.Private, signer);
            using (var refused = await admin.PostAsync("/admin/federation/import", new StringContent(empty), ct))
            {
                await RegistrationApiTests.AssertErrorAsync(refused, (HttpStatusCode)422, "M_INVALID_PARAM", "payload: domainList: empty");
            }

            using (var bad = await admin.PostAsync("/admin/federation/import?allowEmpty=1", new StringContent(empty), ct))
            {
                await RegistrationApiTests.AssertErrorAsync(bad, HttpStatusCode.BadRequest, "M_INVALID_PARAM", "allowEmpty: must be true or false");
            }

            Assert.Equal(2, (await _host.Database.Federation.GetLatestAsync(ct))!.Domains.Count);

            using var allowed = await admin.PostAsync("/admin/federation/import?allowEmpty=true", new StringContent(empty), ct);
            Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
            var latest = await _host.Database.Federation.GetLatestVersionAsync(ct);
            Assert.Equal((2L, 43L, 0), (latest!.Version, latest.SourceVersion!.Value, latest.DomainCount));
        }
    }
}
