using System.Net;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Registration;

public sealed class RegistrationApiTests : IAsyncLifetime
{
    private readonly PostgresFixture _postgres;
    private RegistrationHost _host = null!;

    public RegistrationApiTests(PostgresFixture postgres) => _postgres = postgres;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => _host = await RegistrationHost.StartAsync(_postgres, "Registration:MaxBodyBytes=200000");

    public async ValueTask DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task FederationList_404BeforeAnyList_ThenVersioned_304WhenCurrent()
    {
        using var admin = _host.CreateClient();
        using var proxy = _host.CreateClient(admin: false);

        using (var none = await proxy.GetAsync("/backend/federation", Ct))
        {
            await AssertErrorAsync(none, HttpStatusCode.NotFound, "M_NOT_FOUND");
        }

        using (var put = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"B.Example.org","telematikID":"1-b","isInsurance":false},{"domain":"a.example.org","telematikID":"1-a","isInsurance":true,"ik":["109500969"]}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
            Assert.Equal("""{"version":1}""", await put.Content.ReadAsStringAsync(Ct));
        }

        using var first = await proxy.GetAsync("/backend/federation", Ct);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal("""{"version":1,"domainList":[{"domain":"a.example.org","telematikID":"1-a","isInsurance":true,"ik":["109500969"]},{"domain":"b.example.org","telematikID":"1-b","isInsurance":false,"ik":[]}]}""",
            await first.Content.ReadAsStringAsync(Ct));
        Assert.Equal("\"1\"", first.Headers.ETag!.Tag);

        using (var current = await proxy.GetAsync("/backend/federation?version=1", Ct))
        {
            Assert.Equal(HttpStatusCode.NotModified, current.StatusCode);
        }

        using (var older = await proxy.GetAsync("/backend/federation?version=0", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, older.StatusCode);
        }

        using (var bad = await proxy.GetAsync("/backend/federation?version=abc", Ct))
        {
            await AssertErrorAsync(bad, HttpStatusCode.BadRequest, "M_INVALID_PARAM");
        }

        using (var add = await admin.PostAsync("/admin/federation/domains", Json("""{"domain":"c.example.org","telematikID":"1-c"}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, add.StatusCode);
            Assert.Equal("""{"version":2}""", await add.Content.ReadAsStringAsync(Ct));
        }

        using (var stale = await proxy.GetAsync("/backend/federation?version=1", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
            Assert.Contains("\"version\":2", await stale.Content.ReadAsStringAsync(Ct));
            Assert.Contains("c.example.org", await stale.Content.ReadAsStringAsync(Ct));
        }

        using (var again = await admin.PostAsync("/admin/federation/domains", Json("""{"domain":"C.EXAMPLE.ORG","telematikID":"1-c"}"""), Ct))
        {
            await AssertErrorAsync(again, HttpStatusCode.Conflict, "M_UNKNOWN", "already in the federation list");
        }

        using (var remove = await admin.DeleteAsync("/admin/federation/domains/b.example.org", Ct))
        {
            Assert.Equal("""{"version":3}""", await remove.Content.ReadAsStringAsync(Ct));
        }

        using (var removeAgain = await admin.DeleteAsync("/admin/federation/domains/b.example.org", Ct))
        {
            await AssertErrorAsync(removeAgain, HttpStatusCode.NotFound, "M_NOT_FOUND");
        }

        using var info = await admin.GetAsync("/admin/federation", Ct);
        using var infoBody = JsonDocument.Parse(await info.Content.ReadAsStringAsync(Ct));
        Assert.Equal(3, infoBody.RootElement.GetProperty("version").GetInt64());
        Assert.Equal(2, infoBody.RootElement.GetProperty("domainCount").GetInt32());
        Assert.Equal("admin:remove", infoBody.RootElement.GetProperty("source").GetString());
    }

    [Theory]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x"},{"domain":"A.example.org","telematikID":"y"}]}""", "domainList[1].domain: 'a.example.org' is a duplicate of domainList[0]")]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","colour":"red"}]}""", "domainList[0].colour: unknown field")]
    [InlineData("""{"domainList":[],"extra":1}""", "extra: unknown field")]
    [InlineData("""{"domainList":[{"domain":"bad domain.org","telematikID":"x"}]}""", "domainList[0].domain: 'bad domain.org' is not a valid domain name")]
    [InlineData("""{"domainList":[{"domain":"-a.example.org","telematikID":"x"}]}""", "domainList[0].domain:")]
    [InlineData("""{"domainList":[{"domain":"localhost","telematikID":"x"}]}""", "domainList[0].domain: 'localhost' is not a fully qualified domain name")]
    [InlineData("""{"domainList":[{"domain":"10.0.0.1","telematikID":"x"}]}""", "domainList[0].domain: '10.0.0.1' looks like an IP address")]
    [InlineData("""{"domainList":[{"domain":"a.example.org:8448","telematikID":"x"}]}""", "domainList[0].domain:")]
    [InlineData("""{"domainList":[{"domain":"a.example.org"}]}""", "domainList[0].telematikID: required")]
    [InlineData("""{"domainList":[{"telematikID":"x"}]}""", "domainList[0].domain: required")]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","isInsurance":"yes"}]}""", "domainList[0].isInsurance: must be true or false")]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","isInsurance":true}]}""", "domainList[0].ik: an insurance")]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","ik":["12"]}]}""", "domainList[0].ik[0]: must be a 9-digit IK number")]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","domain":"b.example.org"}]}""", "domainList[0].domain: appears twice")]
    [InlineData("""{"version":5,"domainList":[]}""", "version: assigned by the service")]
    [InlineData("""{"domainList":{}}""", "domainList: required, must be an array")]
    [InlineData("""[]""", "the body must be a JSON object")]
    [InlineData("""{"domainList":[""", "the body is not valid JSON")]
    public async Task ReplaceList_WithBadInput_Is400NamingTheField_AndChangesNothing(string body, string expected)
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"keep.example.org","telematikID":"k"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        using var response = await admin.PutAsync("/admin/federation", Json(body), Ct);

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "M_BAD_JSON", expected);
        var latest = await _host.Database.Federation.GetLatestAsync(Ct);
        Assert.Equal(1, latest!.Version);
        Assert.Equal(["keep.example.org"], latest.Domains.Select(d => d.Domain));
    }

    public static TheoryData<string, string, string> UndecodableBodies()
    {
        // <FF> stands for a raw 0xFF byte (never valid UTF-8), <C3> for a lead byte without its continuation;
        // \ud800 and \udc00 are JSON escapes of surrogates without their pair: valid JSON syntax, not text.
        var data = new TheoryData<string, string, string>();
        foreach (var (path, template) in new[]
        {
            ("PUT /admin/federation", """{"domainList":[{"domain":"a.example.org","telematikID":"#"}]}"""),
            ("PUT /admin/federation", """{"domainList":[{"domain":"a.example.org","#":"x"}]}"""),
            ("POST /admin/federation/domains", """{"domain":"a.example.org","telematikID":"#"}"""),
            ("POST /admin/federation/domains", """{"#":"a.example.org"}"""),
            ("PUT /admin/support/example.org", """{"support_page":"https://example.org/#"}"""),
            ("PUT /admin/support/example.org", """{"contacts":[{"role":"m.role.admin","email_address":"a#@example.org"}]}"""),
        })
        {
            data.Add(path, template.Replace("#", "<FF>", StringComparison.Ordinal), "invalid UTF-8 at byte offset");
            data.Add(path, template.Replace("#", "x<C3>", StringComparison.Ordinal), "invalid UTF-8 at byte offset");
            data.Add(path, template.Replace("#", "\\ud800", StringComparison.Ordinal), "unpaired UTF-16 surrogate");
            data.Add(path, template.Replace("#", "x\\udc00y", StringComparison.Ordinal), "unpaired UTF-16 surrogate");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(UndecodableBodies))]
    public async Task BodyThatIsNotUnicodeText_Is400BadJson_AndChangesNothing(string request, string body, string expected)
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"keep.example.org","telematikID":"k"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        var (method, path) = (request.Split(' ')[0], request.Split(' ')[1]);
        using var message = new HttpRequestMessage(new HttpMethod(method), path) { Content = RawJson(body) };
        using var response = await admin.SendAsync(message, Ct);

        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "M_BAD_JSON", "the body is not valid JSON: ");
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "M_BAD_JSON", expected);
        var latest = await _host.Database.Federation.GetLatestAsync(Ct);
        Assert.Equal(1, latest!.Version);
        Assert.Equal(["keep.example.org"], latest.Domains.Select(d => d.Domain));
        Assert.Null(await _host.Database.Support.GetAsync("example.org", Ct));
    }

    [Fact]
    public async Task ConfusableDomainNames_AreRefused_AndNeverReachTheAsciiName()
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"key.example.org","telematikID":"k"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        // KELVIN SIGN as UTF-8 and as a JSON escape, FULLWIDTH k, and the path form of the DELETE.
        using (var replace = await admin.PutAsync("/admin/federation", Json("{\"domainList\":[{\"domain\":\"\u212Aey.example.org\",\"telematikID\":\"k\"}]}"), Ct))
        {
            await AssertErrorAsync(replace, HttpStatusCode.BadRequest, "M_BAD_JSON", "domainList[0].domain: '\u212Aey.example.org' contains non-ASCII characters");
        }

        using (var escaped = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"\u212Aey.example.org","telematikID":"k"}]}"""), Ct))
        {
            await AssertErrorAsync(escaped, HttpStatusCode.BadRequest, "M_BAD_JSON", "domainList[0].domain:");
        }

        using (var add = await admin.PostAsync("/admin/federation/domains", Json("{\"domain\":\"\uFF4Bey2.example.org\",\"telematikID\":\"k\"}"), Ct))
        {
            await AssertErrorAsync(add, HttpStatusCode.BadRequest, "M_BAD_JSON", "domain: ");
        }

        using (var remove = await admin.DeleteAsync("/admin/federation/domains/%E2%84%AAey.example.org", Ct))
        {
            await AssertErrorAsync(remove, HttpStatusCode.BadRequest, "M_BAD_JSON", "non-ASCII");
        }

        using (var support = await admin.PutAsync("/admin/support/%E2%84%AAey.example.org", Json("""{"support_page":"https://example.org"}"""), Ct))
        {
            await AssertErrorAsync(support, HttpStatusCode.BadRequest, "M_BAD_JSON", "serverName");
        }

        var latest = await _host.Database.Federation.GetLatestAsync(Ct);
        Assert.Equal(1, latest!.Version);
        Assert.Equal(["key.example.org"], latest.Domains.Select(d => d.Domain));
        Assert.Null(await _host.Database.Support.GetAsync("key.example.org", Ct));
    }

    [Fact]
    public async Task ReplaceWithAnEmptyList_IsRefused_UnlessAllowEmpty()
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"keep.example.org","telematikID":"k"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        foreach (var query in new[] { "", "?allowEmpty=false" })
        {
            using var refused = await admin.PutAsync("/admin/federation" + query, Json("""{"domainList":[]}"""), Ct);
            await AssertErrorAsync(refused, HttpStatusCode.BadRequest, "M_BAD_JSON", "domainList: empty");
            await AssertErrorAsync(refused, HttpStatusCode.BadRequest, "M_BAD_JSON", "allowEmpty=true");
        }

        foreach (var query in new[] { "?allowEmpty=yes", "?allowEmpty=true&allowEmpty=true", "?allowEmpty=" })
        {
            using var bad = await admin.PutAsync("/admin/federation" + query, Json("""{"domainList":[]}"""), Ct);
            await AssertErrorAsync(bad, HttpStatusCode.BadRequest, "M_INVALID_PARAM", "allowEmpty: must be true or false");
        }

        Assert.Equal(["keep.example.org"], (await _host.Database.Federation.GetLatestAsync(Ct))!.Domains.Select(d => d.Domain));

        using var allowed = await admin.PutAsync("/admin/federation?allowEmpty=true", Json("""{"domainList":[]}"""), Ct);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal("""{"version":2}""", await allowed.Content.ReadAsStringAsync(Ct));
        Assert.Empty((await _host.Database.Federation.GetLatestAsync(Ct))!.Domains);

        // The flag only permits an empty list; a non-empty one is stored as always.
        using var filled = await admin.PutAsync("/admin/federation?allowEmpty=true", Json("""{"domainList":[{"domain":"new.example.org","telematikID":"n"}]}"""), Ct);
        Assert.Equal("""{"version":3}""", await filled.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task RemovingTheLastDomain_IsRefused_UnlessAllowEmpty()
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", Json("""{"domainList":[{"domain":"a.example.org","telematikID":"a"},{"domain":"b.example.org","telematikID":"b"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        using (var first = await admin.DeleteAsync("/admin/federation/domains/a.example.org", Ct))
        {
            Assert.Equal("""{"version":2}""", await first.Content.ReadAsStringAsync(Ct));
        }

        using (var last = await admin.DeleteAsync("/admin/federation/domains/b.example.org", Ct))
        {
            await AssertErrorAsync(last, HttpStatusCode.Conflict, "M_UNKNOWN", "'b.example.org' is the last domain");
            await AssertErrorAsync(last, HttpStatusCode.Conflict, "M_UNKNOWN", "allowEmpty=true");
        }

        Assert.Equal(["b.example.org"], (await _host.Database.Federation.GetLatestAsync(Ct))!.Domains.Select(d => d.Domain));

        using var allowed = await admin.DeleteAsync("/admin/federation/domains/b.example.org?allowEmpty=true", Ct);
        Assert.Equal("""{"version":3}""", await allowed.Content.ReadAsStringAsync(Ct));
        Assert.Empty((await _host.Database.Federation.GetLatestAsync(Ct))!.Domains);
    }

    [Fact]
    public async Task OversizedBody_Is413()
    {
        using var admin = _host.CreateClient();
        var domains = string.Join(",", Enumerable.Range(0, 5000).Select(i => $$"""{"domain":"host{{i}}.example.org","telematikID":"t{{i}}"}"""));

        using var response = await admin.PutAsync("/admin/federation", Json("{\"domainList\":[" + domains + "]}"), Ct);

        await AssertErrorAsync(response, HttpStatusCode.RequestEntityTooLarge, "M_TOO_LARGE");
        Assert.Null(await _host.Database.Federation.GetLatestVersionAsync(Ct));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer " + RegistrationHost.AdminToken + "x")]
    public async Task AdminApi_WithoutTheRightToken_Is401(string? authorization)
    {
        using var client = _host.CreateClient(admin: false);
        foreach (var (method, path, body) in new[]
        {
            (HttpMethod.Put, "/admin/federation", """{"domainList":[]}"""),
            (HttpMethod.Post, "/admin/federation/domains", """{"domain":"x.example.org","telematikID":"x"}"""),
            (HttpMethod.Delete, "/admin/federation/domains/x.example.org", ""),
            (HttpMethod.Post, "/admin/federation/import", "a.b.c"),
            (HttpMethod.Put, "/admin/support/example.org", """{"support_page":"https://example.org"}"""),
            (HttpMethod.Get, "/admin/federation", ""),
        })
        {
            using var request = new HttpRequestMessage(method, path) { Content = body.Length > 0 ? Json(body) : null };
            if (authorization is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", authorization);
            }

            using var response = await client.SendAsync(request, Ct);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString());
        }

        Assert.Null(await _host.Database.Federation.GetLatestVersionAsync(Ct));
        Assert.Null(await _host.Database.Support.GetAsync("example.org", Ct));
    }

    [Fact]
    public async Task Support_PutGetDelete_AndPublicEndpoint()
    {
        using var admin = _host.CreateClient();
        using var proxy = _host.CreateClient(admin: false);
        const string document = """{"contacts":[{"email_address":"admin@example.org","matrix_id":"@admin:example.org","role":"m.role.admin"}],"support_page":"https://example.org/support"}""";

        using (var missing = await proxy.GetAsync("/backend/well-known-support/example.org", Ct))
        {
            await AssertErrorAsync(missing, HttpStatusCode.NotFound, "M_NOT_FOUND");
        }

        using (var put = await admin.PutAsync("/admin/support/Example.org", Json(document), Ct))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        using (var get = await proxy.GetAsync("/backend/well-known-support/example.org", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, get.StatusCode);
            Assert.Equal(document, await get.Content.ReadAsStringAsync(Ct));
        }

        using (var replace = await admin.PutAsync("/admin/support/example.org", Json("""{"support_page":"https://example.org/new"}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, replace.StatusCode);
        }

        Assert.Equal("""{"contacts":[],"support_page":"https://example.org/new"}""", await proxy.GetStringAsync("/backend/well-known-support/example.org", Ct));
        using (var delete = await admin.DeleteAsync("/admin/support/example.org", Ct))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }

        using (var gone = await proxy.GetAsync("/backend/well-known-support/example.org", Ct))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }
    }

    [Theory]
    [InlineData("""{}""", "contacts: at least one contact or a support_page is required")]
    [InlineData("""{"contacts":[{"role":"m.role.admin"}]}""", "contacts[0]: needs an email_address or a matrix_id")]
    [InlineData("""{"contacts":[{"email_address":"a@example.org"}]}""", "contacts[0].role: required")]
    [InlineData("""{"contacts":[{"role":"boss","email_address":"a@example.org"}]}""", "contacts[0].role: must be m.role.admin")]
    [InlineData("""{"contacts":[{"role":"m.role.admin","matrix_id":"admin"}]}""", "contacts[0].matrix_id: must be a Matrix user ID")]
    [InlineData("""{"contacts":[{"role":"m.role.admin","email_address":"nope"}]}""", "contacts[0].email_address: must be an email address")]
    [InlineData("""{"support_page":"javascript:alert(1)"}""", "support_page: must be an absolute http(s) URL")]
    [InlineData("""{"support_page":"https://example.org","phone":"1"}""", "phone: unknown field")]
    public async Task Support_BadInput_Is400NamingTheField(string body, string expected)
    {
        using var admin = _host.CreateClient();
        using var response = await admin.PutAsync("/admin/support/example.org", Json(body), Ct);
        await AssertErrorAsync(response, HttpStatusCode.BadRequest, "M_BAD_JSON", expected);
        Assert.Null(await _host.Database.Support.GetAsync("example.org", Ct));
    }

    [Fact]
    public async Task UnknownRoutesAndMethods_GetMatrixErrors()
    {
        using var client = _host.CreateClient();
        using var unknown = await client.GetAsync("/backend/nothing", Ct);
        await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "M_NOT_FOUND");
        using var method = await client.PostAsync("/backend/federation", Json("{}"), Ct);
        await AssertErrorAsync(method, HttpStatusCode.MethodNotAllowed, "M_UNRECOGNIZED");
        using var badName = await client.GetAsync("/backend/well-known-support/exa%20mple", Ct);
        await AssertErrorAsync(badName, HttpStatusCode.BadRequest, "M_INVALID_PARAM");
    }

    [Fact]
    public async Task Health_ReportsDatabaseAndListAge_OnItsOwnPort()
    {
        using var health = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_host.HealthPort}") };
        using var before = JsonDocument.Parse(await health.GetStringAsync("/actuator/health/readiness", Ct));
        Assert.Equal("UP", before.RootElement.GetProperty("components").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal("DEGRADED", before.RootElement.GetProperty("components").GetProperty("federation-list").GetProperty("status").GetString());

        await _host.Database.Federation.ReplaceAsync([new("a.example.org", "t", false)], new("test"), Ct);
        using var after = JsonDocument.Parse(await health.GetStringAsync("/actuator/health/readiness", Ct));
        var list = after.RootElement.GetProperty("components").GetProperty("federation-list");
        Assert.Equal("UP", list.GetProperty("status").GetString());
        Assert.Equal(1, list.GetProperty("details").GetProperty("domains").GetInt32());
        Assert.InRange(list.GetProperty("details").GetProperty("ageSeconds").GetInt64(), 0, 3600);

        using var api = _host.CreateClient();
        using var notOnApi = await api.GetAsync("/actuator/health/readiness", Ct);
        Assert.Equal(HttpStatusCode.NotFound, notOnApi.StatusCode);
    }

    internal static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>A JSON body with raw bytes: <c>&lt;FF&gt;</c> and <c>&lt;C3&gt;</c> become those single bytes.</summary>
    internal static ByteArrayContent RawJson(string template)
    {
        var pieces = template.Split('<');
        var bytes = new List<byte>(Encoding.UTF8.GetBytes(pieces[0]));
        foreach (var piece in pieces.Skip(1))
        {
            bytes.Add(Convert.ToByte(piece[..2], 16));
            bytes.AddRange(Encoding.UTF8.GetBytes(piece[3..]));
        }

        var content = new ByteArrayContent(bytes.ToArray());
        content.Headers.ContentType = new("application/json");
        return content;
    }

    internal static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string errcode, string? message = null)
    {
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {text}");
        using var body = JsonDocument.Parse(text);
        Assert.Equal(errcode, body.RootElement.GetProperty("errcode").GetString());
        if (message is not null)
        {
            Assert.Contains(message, body.RootElement.GetProperty("error").GetString());
        }
    }
}
