using System.Text;
using System.Text.Json;
using MessengerProxy.Registration.Vzd;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Registration;

/// <summary>
/// The VZD fetch authenticates as the VZD defines it (client-credentials grant, then ti-provider-authenticate),
/// against stand-ins of the VZD's OAuth server and FHIR directory on loopback.
/// </summary>
public sealed class VzdAuthenticationTests(PostgresFixture postgres)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Token_IsReusedForItsValidity_ThenRenewedBeforeItExpires()
    {
        await using var vzd = await StandInVzd.StartAsync();
        vzd.ProviderLifetimeSeconds = 3600;
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var service = await Service.StartAsync(postgres, vzd, clock);
        await service.StartupRoundAsync();

        // Many imports within the validity (3600 s less the default 60 s margin): one grant, one exchange.
        for (var i = 0; i < 5; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(700));
            await service.Fetcher.FetchOnceAsync(Ct);
        }

        Assert.Equal((1, 1), (vzd.Grants, vzd.Exchanges));
        Assert.Equal(6, vzd.ListRequests.Count);
        Assert.All(vzd.ListRequests, r => Assert.Equal("Bearer provider-api-1", r.Header("Authorization")));

        // 3500 s so far; at 3541 s the token is within its margin and is renewed before it is used again.
        clock.Advance(TimeSpan.FromSeconds(41));
        await service.Fetcher.FetchOnceAsync(Ct);

        Assert.Equal((2, 2), (vzd.Grants, vzd.Exchanges));
        Assert.Equal("Bearer provider-api-2", vzd.ListRequests.Last().Header("Authorization"));
        var grant = vzd.GrantForms.Last();
        Assert.Equal(("client_credentials", StandInVzd.ClientId, StandInVzd.Secret), (grant["grant_type"].ToString(), grant["client_id"].ToString(), grant["client_secret"].ToString()));
        Assert.Equal("Bearer ti-provider-access-2", vzd.Directory.Requests.Last(r => r.RawTarget == "/ti-provider-authenticate").Header("Authorization"));
        service.AssertNoSecretLogged();
    }

    [Fact]
    public async Task ConcurrentImports_ShareOneRenewal()
    {
        await using var vzd = await StandInVzd.StartAsync();
        vzd.HoldGrants = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var service = await Service.StartAsync(postgres, vzd);

        var fetches = Enumerable.Range(0, 5).Select(_ => service.Fetcher.FetchOnceAsync(Ct)).ToArray();
        await Poll.UntilAsync(() => vzd.Grants >= 1);
        vzd.HoldGrants.SetResult();
        await Task.WhenAll(fetches);
        // The start-up fetch waited on the same renewal; its list request may come last.
        await Poll.UntilAsync(() => vzd.ListRequests.Count >= 6);

        Assert.Equal((1, 1), (vzd.Grants, vzd.Exchanges));
        Assert.Equal(6, vzd.ListRequests.Count);
        Assert.All(vzd.ListRequests, r => Assert.Equal("Bearer provider-api-1", r.Header("Authorization")));
        service.AssertNoSecretLogged();
    }

    [Fact]
    public async Task VzdRefusingTheToken_LeadsToExactlyOneReauthentication_AndTheRetriedAnswerIsImported()
    {
        await using var vzd = await StandInVzd.StartAsync();
        await using var service = await Service.StartAsync(postgres, vzd);
        await service.StartupRoundAsync();
        var before = vzd.ListRequests.Count;

        vzd.RevokeAll();
        vzd.Jws = vzd.SignList(7);
        await service.Fetcher.FetchOnceAsync(Ct);

        Assert.Equal((2, 2), (vzd.Grants, vzd.Exchanges));
        Assert.Equal(["Bearer provider-api-1", "Bearer provider-api-2"], vzd.ListRequests.Skip(before).Select(r => r.Header("Authorization")));
        var latest = await service.Host.Database.Federation.GetLatestVersionAsync(Ct);
        Assert.Equal(7, latest!.SourceVersion);

        // Several imports that see the same refusal still cause one renewal between them.
        vzd.RevokeAll();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => service.Fetcher.FetchOnceAsync(Ct)));

        Assert.Equal((3, 3), (vzd.Grants, vzd.Exchanges));
        Assert.Contains("messengerproxy_vzd_token_rejections_total 2", await service.MetricsAsync());
        Assert.Equal(2, service.Logs.Lines.Count(l => l.Contains("VzdTokenRejected", StringComparison.Ordinal)));
        service.AssertNoSecretLogged();
    }

    [Fact]
    public async Task VzdRefusingEveryToken_FailsTheImportCleanly_AndThePreviousListStays()
    {
        await using var vzd = await StandInVzd.StartAsync();
        await using var service = await Service.StartAsync(postgres, vzd);
        await service.StartupRoundAsync();
        await service.Host.Database.Federation.ReplaceAsync([new("keep.example.org", "k", false)], new("admin:replace"), Ct);
        var before = vzd.ListRequests.Count;

        vzd.RejectAll = true;
        vzd.Jws = vzd.SignList(8);
        await service.Fetcher.FetchOnceAsync(Ct);

        // One retry with one new token, then the refusal is the answer: nothing stored, the admin list in force.
        Assert.Equal(2, vzd.ListRequests.Count - before);
        Assert.Equal((2, 2), (vzd.Grants, vzd.Exchanges));
        var latest = await service.Host.Database.Federation.GetLatestAsync(Ct);
        Assert.Equal((1L, "admin:replace"), (latest!.Version, latest.Source));
        Assert.Contains(service.Logs.Lines, l => l.Contains("VzdAuthenticationFailed", StringComparison.Ordinal) && l.Contains("(refused)", StringComparison.Ordinal));
        Assert.Contains(service.Logs.Lines, l => l.Contains("VzdFetchFailed", StringComparison.Ordinal) && l.Contains("HTTP 401", StringComparison.Ordinal));
        Assert.Contains("messengerproxy_vzd_authentication_failures_total{reason=\"refused\"} 1", await service.MetricsAsync());
        var readiness = await service.ReadinessAsync();
        Assert.Equal("DEGRADED", readiness.GetProperty("status").GetString());
        Assert.Equal("refused", readiness.GetProperty("details").GetProperty("reason").GetString());
        service.AssertNoSecretLogged();
    }

    [Theory]
    [InlineData("token-500", "token_endpoint_status", "the token endpoint answered 500")]
    [InlineData("token-invalid-client", "token_endpoint_status", "the token endpoint answered 401 (invalid_client)")]
    [InlineData("token-garbage", "token_endpoint_bad_response", "the token endpoint answered 200 with something other than JSON")]
    [InlineData("token-without-access-token", "token_endpoint_bad_response", "the token endpoint answered 200 without an access_token string")]
    [InlineData("token-not-bearer", "token_endpoint_bad_response", "the token endpoint's token_type is not Bearer")]
    [InlineData("token-huge", "token_endpoint_bad_response", "exceeds the limit of 65536 bytes")]
    [InlineData("authenticate-503", "authenticate_status", "the ti-provider-authenticate endpoint answered 503")]
    [InlineData("authenticate-bad-expiry", "authenticate_bad_response", "the ti-provider-authenticate endpoint's expires_in is not a number of seconds")]
    public async Task AuthenticationFailure_FailsTheImportClearly_AndNoSecretIsLogged(string fault, string reason, string detail)
    {
        await using var vzd = await StandInVzd.StartAsync();
        vzd.Fault = fault;
        await using var service = await Service.StartAsync(postgres, vzd);
        await service.StartupRoundAsync();

        await service.Fetcher.FetchOnceAsync(Ct);

        // The list is never asked for without a token; each failed round is one reason-coded line, and the fetch
        // failure names it too.
        Assert.Empty(vzd.ListRequests);
        Assert.Equal(2, service.Logs.Lines.Count(l => l.Contains("VzdAuthenticationFailed", StringComparison.Ordinal) && l.Contains($"({reason})", StringComparison.Ordinal) && l.Contains(detail, StringComparison.Ordinal)));
        Assert.Contains(service.Logs.Lines, l => l.Contains("VzdFetchFailed", StringComparison.Ordinal) && l.Contains(detail, StringComparison.Ordinal));
        Assert.Contains($"messengerproxy_vzd_authentication_failures_total{{reason=\"{reason}\"}} 2", await service.MetricsAsync());
        var readiness = await service.ReadinessAsync();
        Assert.Equal("DEGRADED", readiness.GetProperty("status").GetString());
        Assert.Contains(detail, readiness.GetProperty("description").GetString());
        Assert.Null(await service.Host.Database.Federation.GetLatestVersionAsync(Ct));
        service.AssertNoSecretLogged();
    }

    [Fact]
    public async Task TokenEndpointUnreachable_FailsTheImportClearly()
    {
        await using var vzd = await StandInVzd.StartAsync();
        var closedPort = LoopbackPorts.Tcp();
        await using var service = await Service.StartAsync(postgres, vzd, tokenUrl: $"http://127.0.0.1:{closedPort}");
        await service.StartupRoundAsync();

        Assert.Empty(vzd.ListRequests);
        Assert.Contains(service.Logs.Lines, l => l.Contains("VzdAuthenticationFailed", StringComparison.Ordinal) && l.Contains("(token_endpoint_unreachable): the token endpoint is unreachable", StringComparison.Ordinal));
        service.AssertNoSecretLogged();
    }

    [Fact]
    public async Task ClientSecret_IsReadFromItsFile_Trimmed_AndAgainAtEachRenewal()
    {
        var directory = Directory.CreateTempSubdirectory("mp-vzd-secret-").FullName;
        var file = Path.Combine(directory, "client-secret");
        await File.WriteAllTextAsync(file, "\n  " + StandInVzd.Secret + " \r\n", Ct);
        await using var vzd = await StandInVzd.StartAsync();
        vzd.ProviderLifetimeSeconds = 600;
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using (var service = await Service.StartAsync(postgres, vzd, clock, secretFile: file))
        {
            await service.StartupRoundAsync();
            Assert.Equal(StandInVzd.Secret, vzd.GrantForms.Single()["client_secret"].ToString());

            // A rotated secret is used from the next renewal on, without a restart.
            vzd.Secret2 = "rotated-" + StandInVzd.Secret;
            await File.WriteAllTextAsync(file, vzd.Secret2 + "\n", Ct);
            clock.Advance(TimeSpan.FromSeconds(600));
            await service.Fetcher.FetchOnceAsync(Ct);

            Assert.Equal(vzd.Secret2, vzd.GrantForms.Last()["client_secret"].ToString());
            Assert.Equal("Bearer provider-api-2", vzd.ListRequests.Last().Header("Authorization"));
            service.AssertNoSecretLogged(vzd.Secret2);
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>The registration service with its log captured, configured for the stand-in VZD.</summary>
    private sealed class Service : IAsyncDisposable
    {
        private readonly StandInVzd _vzd;
        private readonly string _directory;

        private Service(RegistrationHost host, LogCapture logs, StandInVzd vzd, string directory)
        {
            Host = host;
            Logs = logs;
            _vzd = vzd;
            _directory = directory;
        }

        public RegistrationHost Host { get; }

        public LogCapture Logs { get; }

        public VzdFederationListFetcher Fetcher => Host.Services.GetRequiredService<VzdFederationListFetcher>();

        public static async Task<Service> StartAsync(PostgresFixture postgres, StandInVzd vzd, ManualTimeProvider? clock = null, string? secretFile = null, string? tokenUrl = null)
        {
            var directory = Directory.CreateTempSubdirectory("mp-vzd-auth-").FullName;
            var logs = new LogCapture();
            var host = await RegistrationHost.StartAsync(postgres, builder =>
            {
                builder.Logging.AddProvider(logs);
                builder.Logging.AddFilter<LogCapture>(null, LogLevel.Trace);
                if (clock is not null)
                {
                    builder.Services.AddSingleton<TimeProvider>(clock);
                }
            },
            $"Registration:Vzd:TrustAnchors:0={vzd.Pki.WriteCaPem(directory)}",
            $"Registration:Vzd:FederationListUrl={vzd.Directory.BaseUri}tim-provider-services/FederationList/federationList.jws",
            $"Registration:Vzd:ClientId={StandInVzd.ClientId}",
            secretFile is null ? $"Registration:Vzd:ClientSecret={StandInVzd.Secret}" : $"Registration:Vzd:ClientSecretFile={secretFile}",
            $"Registration:Vzd:TokenUrl={tokenUrl ?? vzd.Auth.BaseUri.ToString()}",
            $"Registration:Vzd:ServiceUrl={vzd.Directory.BaseUri}",
            "Registration:Vzd:PollInterval=01:00:00");
            return new Service(host, logs, vzd, directory);
        }

        /// <summary>Waits for the fetch the service makes when it starts to be past its use of tokens.</summary>
        public Task StartupRoundAsync() => Poll.UntilAsync(() =>
            _vzd.ListRequests.Count >= 1 || Logs.Lines.Any(l => l.Contains("VzdFetchFailed", StringComparison.Ordinal)));

        public async Task<string> MetricsAsync()
        {
            using var health = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Host.HealthPort}") };
            return await health.GetStringAsync("/metrics", Ct);
        }

        /// <summary>The <c>vzd-authentication</c> component of the readiness report.</summary>
        public async Task<JsonElement> ReadinessAsync()
        {
            using var health = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Host.HealthPort}") };
            using var report = JsonDocument.Parse(await health.GetStringAsync("/actuator/health/readiness", Ct));
            return report.RootElement.GetProperty("components").GetProperty("vzd-authentication").Clone();
        }

        public void AssertNoSecretLogged(params string[] more)
        {
            Assert.NotEmpty(Logs.Lines);
            foreach (var line in Logs.Lines)
            {
                foreach (var secret in more.Append(StandInVzd.Secret).Append("ti-provider-access-").Append("provider-api-"))
                {
                    Assert.DoesNotContain(secret, line, StringComparison.Ordinal);
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>
    /// The VZD's OAuth server (the TI-Provider realm's token endpoint) and its FHIR directory
    /// (<c>/ti-provider-authenticate</c> and <c>federationList.jws</c>), each a loopback host, with the token rules of
    /// gematik api-vzd: the list needs a provider token, which only the exchange of a fresh grant gives.
    /// </summary>
    private sealed class StandInVzd : IAsyncDisposable
    {
        public const string ClientId = "tim-provider-test";
        public const string Secret = "Zq8-secret-value-0123";
        private const string ListPath = "/tim-provider-services/FederationList/federationList.jws";

        private readonly Lock _gate = new();
        private readonly HashSet<string> _accepted = [];
        private readonly List<IFormCollection> _grantForms = [];
        private readonly (Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair Key, Org.BouncyCastle.X509.X509Certificate Signer) _signer;
        private int _grants;
        private int _exchanges;

        private StandInVzd(RecordingUpstream auth, RecordingUpstream directory)
        {
            Auth = auth;
            Directory = directory;
            Pki = TestPki.Create(TestPki.Brainpool);
            _signer = Pki.IssueSigner(TestPki.Brainpool);
            auth.Respond = RespondAuthAsync;
            directory.Respond = RespondDirectoryAsync;
        }

        public RecordingUpstream Auth { get; }

        public RecordingUpstream Directory { get; }

        public TestPki Pki { get; }

        public long ProviderLifetimeSeconds { get; set; } = 86400;

        /// <summary>How the stand-in misbehaves (see the theory's cases); null: it does not.</summary>
        public string? Fault { get; set; }

        /// <summary>When set, the token endpoint answers only once it completes.</summary>
        public TaskCompletionSource? HoldGrants { get; set; }

        /// <summary>Answer 401 to every list request.</summary>
        public bool RejectAll { get; set; }

        /// <summary>The list served to requests without <c>?version=</c> of it; null: 204.</summary>
        public string? Jws { get; set; }

        /// <summary>A second secret the token endpoint accepts (after a rotation).</summary>
        public string? Secret2 { get; set; }

        public int Grants => Volatile.Read(ref _grants);

        public int Exchanges => Volatile.Read(ref _exchanges);

        public IReadOnlyList<RecordedRequest> ListRequests => Directory.Requests.Where(r => r.RawTarget.StartsWith(ListPath, StringComparison.Ordinal)).ToList();

        public IReadOnlyList<IFormCollection> GrantForms
        {
            get
            {
                lock (_gate)
                {
                    return _grantForms.ToList();
                }
            }
        }

        public static async Task<StandInVzd> StartAsync() => new(await RecordingUpstream.StartAsync(), await RecordingUpstream.StartAsync());

        public string SignList(long version) => TestPki.SignJws(
            $$"""{"version":{{version}},"domainList":[{"domain":"praxis.example.org","telematikID":"1-1","isInsurance":false}]}""",
            "BP256R1", _signer.Key.Private, _signer.Signer);

        /// <summary>The VZD stops accepting every provider token issued so far.</summary>
        public void RevokeAll()
        {
            lock (_gate)
            {
                _accepted.Clear();
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Auth.DisposeAsync();
            await Directory.DisposeAsync();
        }

        private async Task RespondAuthAsync(HttpContext context, RecordedRequest request)
        {
            if (request.Method != "POST" || request.RawTarget != "/auth/realms/TI-Provider/protocol/openid-connect/token"
                || request.Header("Content-Type") != "application/x-www-form-urlencoded")
            {
                context.Response.StatusCode = 404;
                return;
            }

            var form = new FormCollection(QueryHelpers.ParseQuery(Encoding.UTF8.GetString(request.Body)));
            lock (_gate)
            {
                _grantForms.Add(form);
            }

            var n = Interlocked.Increment(ref _grants);
            if (HoldGrants is { } hold)
            {
                await hold.Task;
            }

            if (form["grant_type"] != "client_credentials" || form["client_id"] != ClientId || (form["client_secret"] != Secret && (Secret2 is null || form["client_secret"] != Secret2)) || Fault == "token-invalid-client")
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsJsonAsync(new { error = "invalid_client", error_description = "Invalid client or Invalid client credentials" });
                return;
            }

            switch (Fault)
            {
                case "token-500":
                    context.Response.StatusCode = 500;
                    await context.Response.WriteAsync("Internal Server Error: " + form["client_secret"]);
                    return;
                case "token-garbage":
                    await context.Response.WriteAsync("<html>" + form["client_secret"] + "</html>");
                    return;
                case "token-without-access-token":
                    await context.Response.WriteAsJsonAsync(new { token_type = "Bearer", expires_in = 300 });
                    return;
                case "token-not-bearer":
                    await context.Response.WriteAsJsonAsync(new { access_token = $"ti-provider-access-{n}", token_type = "mac", expires_in = 300 });
                    return;
                case "token-huge":
                    await context.Response.WriteAsJsonAsync(new { access_token = new string('a', 70_000), token_type = "Bearer", expires_in = 300 });
                    return;
            }

            // Keycloak's answer (gematik api-vzd docs/FHIR_VZD_HOWTO_Authenticate.adoc, step [03]).
            await context.Response.WriteAsJsonAsync(new Dictionary<string, object>
            {
                ["access_token"] = $"ti-provider-access-{n}",
                ["expires_in"] = 300,
                ["refresh_expires_in"] = 1800,
                ["token_type"] = "bearer",
                ["not-before-policy"] = 0,
                ["scope"] = "ti-provider",
            });
        }

        private async Task RespondDirectoryAsync(HttpContext context, RecordedRequest request)
        {
            if (request.RawTarget == "/ti-provider-authenticate")
            {
                if (request.Method != "GET" || request.Header("Authorization") != $"Bearer ti-provider-access-{Grants}")
                {
                    context.Response.StatusCode = 401;
                    await context.Response.WriteAsJsonAsync(new { message = "Unauthorized" });
                    return;
                }

                if (Fault == "authenticate-503")
                {
                    context.Response.StatusCode = 503;
                    await context.Response.WriteAsJsonAsync(new { message = "Service unavailable" });
                    return;
                }

                var n = Interlocked.Increment(ref _exchanges);
                var token = $"provider-api-{n}";
                lock (_gate)
                {
                    _accepted.Add(token);
                }

                // I_VZD_TI_Provider_Authenticate_Service TiProviderAccessToken.
                await context.Response.WriteAsJsonAsync(new Dictionary<string, object>
                {
                    ["access_token"] = token,
                    ["client_id"] = ClientId,
                    ["token_type"] = "Bearer",
                    ["expires_in"] = Fault == "authenticate-bad-expiry" ? "soon" : ProviderLifetimeSeconds,
                });
                return;
            }

            if (request.RawTarget.StartsWith(ListPath, StringComparison.Ordinal))
            {
                bool accepted;
                lock (_gate)
                {
                    accepted = !RejectAll && request.Header("Authorization") is { } authorization
                        && authorization.StartsWith("Bearer ", StringComparison.Ordinal) && _accepted.Contains(authorization["Bearer ".Length..]);
                }

                if (!accepted)
                {
                    context.Response.StatusCode = 401;
                    await context.Response.WriteAsJsonAsync(new { message = "Unauthorized" });
                    return;
                }

                if (Jws is null || request.RawTarget.Contains("version=", StringComparison.Ordinal))
                {
                    context.Response.StatusCode = 204;
                    return;
                }

                context.Response.ContentType = "application/octet-stream";
                await context.Response.WriteAsync(Jws);
                return;
            }

            context.Response.StatusCode = 404;
        }
    }
}
