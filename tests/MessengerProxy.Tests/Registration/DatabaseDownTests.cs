using System.Net;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Npgsql;

namespace MessengerProxy.Tests.Registration;

/// <summary>
/// The service with its PostgreSQL gone: every endpoint that needs the database answers 503 with a Matrix
/// error and Retry-After (never an exception trace), readiness reports the database DOWN, and the service
/// recovers by itself when the database is back.
/// </summary>
public sealed class DatabaseDownTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly TestPki s_pki = TestPki.Create(TestPki.Brainpool);

    private readonly string _directory = Directory.CreateTempSubdirectory("mp-dbdown-").FullName;
    private TestDatabase _database = null!;
    private TcpRelay _relay = null!;
    private RegistrationHost _host = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // The service reaches its (real) database only through a relay the test can close, so the shared
        // server keeps running for the other test classes.
        _database = await TestDatabase.CreateAsync(postgres);
        var direct = new NpgsqlConnectionStringBuilder(_database.ConnectionString);
        _relay = TcpRelay.Start(direct.Host!, direct.Port);
        var relayed = new NpgsqlConnectionStringBuilder(_database.ConnectionString) { Port = _relay.Port, Timeout = 5 }.ConnectionString;

        // Given last, this connection string wins over the one RegistrationHost made for a database of its own.
        _host = await RegistrationHost.StartAsync(postgres,
            $"Registration:ConnectionString={relayed}",
            $"Registration:Vzd:TrustAnchors:0={s_pki.WriteCaPem(_directory)}");
    }

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        await _relay.DisposeAsync();
        await _database.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task EveryDatabaseEndpoint_Answers503WithRetryAfter_ReadinessIsDown_AndTheServiceRecovers()
    {
        using var admin = _host.CreateClient();
        using (var seed = await admin.PutAsync("/admin/federation", RegistrationApiTests.Json("""{"domainList":[{"domain":"keep.example.org","telematikID":"k"}]}"""), Ct))
        {
            Assert.Equal(HttpStatusCode.OK, seed.StatusCode);
        }

        var (key, signer) = s_pki.IssueSigner(TestPki.Brainpool);
        var jws = TestPki.SignJws("""{"version":5,"domainList":[{"domain":"new.example.org","telematikID":"n"}]}""", "BP256R1", key.Private, signer);
        var requests = new (HttpMethod Method, string Path, string? Body)[]
        {
            (HttpMethod.Get, "/backend/federation", null),
            (HttpMethod.Get, "/backend/federation?version=1", null),
            (HttpMethod.Get, "/backend/well-known-support/example.org", null),
            (HttpMethod.Get, "/admin/federation", null),
            (HttpMethod.Put, "/admin/federation", """{"domainList":[{"domain":"a.example.org","telematikID":"a"}]}"""),
            (HttpMethod.Put, "/admin/federation?allowEmpty=true", """{"domainList":[]}"""),
            (HttpMethod.Post, "/admin/federation/domains", """{"domain":"b.example.org","telematikID":"b"}"""),
            (HttpMethod.Delete, "/admin/federation/domains/keep.example.org", null),
            (HttpMethod.Post, "/admin/federation/import", jws),
            (HttpMethod.Get, "/admin/support/example.org", null),
            (HttpMethod.Put, "/admin/support/example.org", """{"support_page":"https://example.org/help"}"""),
            (HttpMethod.Delete, "/admin/support/example.org", null),
        };

        await _relay.StopAsync();

        foreach (var (method, path, body) in requests)
        {
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : RegistrationApiTests.Json(body) };
            using var response = await admin.SendAsync(request, Ct);
            var text = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{method} {path}: {(int)response.StatusCode} {text}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            using var error = JsonDocument.Parse(text);
            Assert.Equal("M_UNKNOWN", error.RootElement.GetProperty("errcode").GetString());
            Assert.Equal("Database unavailable; retry later", error.RootElement.GetProperty("error").GetString());
            Assert.Equal(2, error.RootElement.EnumerateObject().Count());
            Assert.True(response.Headers.RetryAfter?.Delta is { TotalSeconds: > 0 }, $"{method} {path}: Retry-After missing");
            Assert.DoesNotContain("Npgsql", text, StringComparison.OrdinalIgnoreCase);
        }

        using var health = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_host.HealthPort}") };
        using (var readiness = await health.GetAsync("/actuator/health/readiness", Ct))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, readiness.StatusCode);
            using var report = JsonDocument.Parse(await readiness.Content.ReadAsStringAsync(Ct));
            Assert.Equal("DOWN", report.RootElement.GetProperty("status").GetString());
            Assert.Equal("DOWN", report.RootElement.GetProperty("components").GetProperty("database").GetProperty("status").GetString());
        }

        using (var liveness = await health.GetAsync("/actuator/health/liveness", Ct))
        {
            Assert.Equal(HttpStatusCode.OK, liveness.StatusCode);
        }

        // Nothing was written while the database was away; once it is back, requests succeed again. Pooled
        // connections that died with the relay may each fail one more request with the same 503.
        _relay.Resume();
        HttpResponseMessage? recovered = null;
        for (var attempt = 0; attempt < 50 && recovered is null; attempt++)
        {
            var response = await admin.GetAsync("/admin/federation", Ct);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                recovered = response;
                break;
            }

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            response.Dispose();
        }

        Assert.NotNull(recovered);
        using (recovered)
        using (var info = JsonDocument.Parse(await recovered.Content.ReadAsStringAsync(Ct)))
        {
            Assert.Equal(1, info.RootElement.GetProperty("version").GetInt64());
        }

        Assert.Equal(["keep.example.org"], (await _database.Federation.GetLatestAsync(Ct))!.Domains.Select(d => d.Domain));
        Assert.Null(await _database.Support.GetAsync("example.org", Ct));
        using var ready = JsonDocument.Parse(await health.GetStringAsync("/actuator/health/readiness", Ct));
        Assert.Equal("UP", ready.RootElement.GetProperty("components").GetProperty("database").GetProperty("status").GetString());
    }
}
