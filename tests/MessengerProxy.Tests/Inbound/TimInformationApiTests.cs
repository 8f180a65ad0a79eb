using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// The TI-M information API on its own listener: OpenID tokens validated at a stand-in homeserver's userinfo
/// endpoint (and cached), look-ups answered from the federation list a stand-in registration service serves.
/// </summary>
public sealed class TimInformationApiTests
{
    private const string GoodToken = "GoodOpenIdTokenAbc";
    private const string OtherGoodToken = "AnotherGoodToken123";
    private const string UserInfoPath = "/_matrix/federation/v1/openid/userinfo";

    // kk.example is an insurance with two IKs; praxis.example lists an IK but is no insurance.
    private const string List = """
        {"version":7,"domainList":[
          {"domain":"kk.example","telematikID":"t-kk","isInsurance":true,"ik":["109500969","101575519"]},
          {"domain":"zweite-kk.example","telematikID":"t-kk2","isInsurance":true,"ik":["109500969","108310400"]},
          {"domain":"praxis.example","telematikID":"t-p","isInsurance":false,"ik":["123456789"]}
        ]}
        """;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task NoToken_Is401InTheApisErrorFormat_AndTheHomeserverIsNotAsked()
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync("/tim-information", token: null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        var error = await ErrorAsync(response);
        Assert.Equal("401", error.Code);
        Assert.Contains("OpenID token is required", error.Message);
        Assert.Equal(0, api.UserInfoCalls);
    }

    [Theory]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("Bearer ")]
    [InlineData("Bearer token with spaces")]
    [InlineData("Bearer tok\"en")]
    public async Task MalformedAuthorization_Is401_AndNeverReachesTheHomeserver(string authorization)
    {
        await using var api = await Api.StartAsync();

        using var request = new HttpRequestMessage(HttpMethod.Get, "/tim-information");
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var response = await api.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("401", (await ErrorAsync(response)).Code);
        Assert.Equal(0, api.UserInfoCalls);
    }

    [Fact]
    public async Task TokenTheHomeserverRefuses_Is401()
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync("/tim-information", token: "UnknownToken");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("The Matrix OpenID token is not valid", (await ErrorAsync(response)).Message);
        Assert.Equal(1, api.UserInfoCalls);
    }

    [Fact]
    public async Task ValidToken_Info_AnswersTitleAndVersion_AndTheTokenReachesTheHomeserverAsAccessToken()
    {
        await using var api = await Api.StartAsync("TimInformation:Description=Betreiber: Beispiel GmbH");

        using var response = await api.GetAsync("/tim-information/", GoodToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("Contact Information API des TI-Messengers", json.RootElement.GetProperty("title").GetString());
        Assert.Equal("Betreiber: Beispiel GmbH", json.RootElement.GetProperty("description").GetString());
        Assert.Equal("1.0.0", json.RootElement.GetProperty("version").GetString());
        Assert.False(json.RootElement.TryGetProperty("contact", out _));
        var call = Assert.Single(api.Homeserver.Requests, r => r.RawTarget.StartsWith(UserInfoPath, StringComparison.Ordinal));
        Assert.Equal($"{UserInfoPath}?access_token={GoodToken}", call.RawTarget);
    }

    [Fact]
    public async Task FindByIk_AnswersTheInsurance_FirstInTheListWins()
    {
        await using var api = await Api.StartAsync();

        Assert.Equal("kk.example", await ServerNameAsync(api, "101575519"));
        Assert.Equal("kk.example", await ServerNameAsync(api, "109500969"));
        Assert.Equal("zweite-kk.example", await ServerNameAsync(api, "108310400"));
    }

    [Theory]
    [InlineData("999999999")]
    [InlineData("123456789")] // listed, but by a server that is no insurance
    public async Task FindByIk_UnknownIk_Is404(string ik)
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync($"/tim-information/v1/server/findByIk?ikNumber={ik}", GoodToken);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("404", (await ErrorAsync(response)).Code);
    }

    [Theory]
    [InlineData("/tim-information/v1/server/findByIk", "ikNumber is required")]
    [InlineData("/tim-information/v1/server/findByIk?ikNumber=", "ikNumber is required")]
    [InlineData("/tim-information/v1/server/findByIk?ikNumber=10950096x", "9 digits")]
    [InlineData("/tim-information/v1/server/findByIk?ikNumber=1095009690", "9 digits")]
    [InlineData("/tim-information/v1/server/findByIk?ikNumber=109500969&ikNumber=108310400", "given once")]
    [InlineData("/tim-information/v1/server/isInsurance", "serverName is required")]
    [InlineData("/tim-information/v1/server/isInsurance?serverName=kk%20example", "not a Matrix server name")]
    [InlineData("/tim-information/v1/server/isInsurance?serverName=kk.example:99999", "not a Matrix server name")]
    public async Task MissingOrMalformedParameter_Is400(string target, string message)
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync(target, GoodToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = await ErrorAsync(response);
        Assert.Equal("400", error.Code);
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("kk.example", true)]
    [InlineData("KK.Example:8448", true)]
    [InlineData("praxis.example", false)]
    [InlineData("unlisted.example", false)] // the yaml defines no 404 here (the reference answers one)
    public async Task IsInsurance_AnswersFromTheList(string serverName, bool expected)
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync($"/tim-information/v1/server/isInsurance?serverName={Uri.EscapeDataString(serverName)}", GoodToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(expected, json.RootElement.GetProperty("isInsurance").GetBoolean());
    }

    [Fact]
    public async Task OneUserInfoCallPerTokenWithinTheTtl_AnotherAfterIt()
    {
        await using var api = await Api.StartAsync("TimInformation:TokenCacheTtl=00:01:00");

        for (var i = 0; i < 3; i++)
        {
            using var response = await api.GetAsync("/tim-information", GoodToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(1, api.UserInfoCalls);

        using (var other = await api.GetAsync("/tim-information", OtherGoodToken))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        Assert.Equal(2, api.UserInfoCalls);

        api.Clock.Advance(TimeSpan.FromSeconds(59));
        using (var stillCached = await api.GetAsync("/tim-information", GoodToken))
        {
            Assert.Equal(HttpStatusCode.OK, stillCached.StatusCode);
        }

        Assert.Equal(2, api.UserInfoCalls);

        api.Clock.Advance(TimeSpan.FromSeconds(2));
        using (var expired = await api.GetAsync("/tim-information", GoodToken))
        {
            Assert.Equal(HttpStatusCode.OK, expired.StatusCode);
        }

        Assert.Equal(3, api.UserInfoCalls);
    }

    [Fact]
    public async Task ConcurrentRequestsWithOneToken_ShareOneUserInfoCall()
    {
        await using var api = await Api.StartAsync();
        api.UserInfoDelay = TimeSpan.FromMilliseconds(300);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => api.GetAsync("/tim-information", GoodToken)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        foreach (var response in responses)
        {
            response.Dispose();
        }

        Assert.Equal(1, api.UserInfoCalls);
    }

    [Fact]
    public async Task RefusedTokensAreNotCached()
    {
        await using var api = await Api.StartAsync();

        (await api.GetAsync("/tim-information", "UnknownToken")).Dispose();
        (await api.GetAsync("/tim-information", "UnknownToken")).Dispose();

        Assert.Equal(2, api.UserInfoCalls);
    }

    [Fact]
    public async Task HomeserverFailing_Is503_NotCached_AndReadinessShowsIt()
    {
        await using var api = await Api.StartAsync();
        api.UserInfoStatus = 500;

        using (var response = await api.GetAsync("/tim-information", GoodToken))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("503", (await ErrorAsync(response)).Code);
        }

        var readiness = await HealthAsync(api.Proxy, "/actuator/health/readiness");
        Assert.Contains("\"tim-information\":{\"status\":\"DEGRADED\"", readiness);

        api.UserInfoStatus = 200;
        using (var recovered = await api.GetAsync("/tim-information", GoodToken))
        {
            Assert.Equal(HttpStatusCode.OK, recovered.StatusCode);
        }

        Assert.Contains("\"tim-information\":{\"status\":\"UP\"", await HealthAsync(api.Proxy, "/actuator/health/readiness"));
    }

    [Fact]
    public async Task HomeserverAnswerWithoutUser_Is503()
    {
        await using var api = await Api.StartAsync();
        api.UserInfoBody = """{"user":"@alice:hs.example"}""";

        using var response = await api.GetAsync("/tim-information", GoodToken);

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task NoFederationList_LookUpsAre503_InfoStillAnswers()
    {
        await using var api = await Api.StartAsync(serveList: false);

        using var lookUp = await api.GetAsync("/tim-information/v1/server/isInsurance?serverName=kk.example", GoodToken);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, lookUp.StatusCode);
        Assert.Equal("No usable federation list is available", (await ErrorAsync(lookUp)).Message);

        using var info = await api.GetAsync("/tim-information", GoodToken);
        Assert.Equal(HttpStatusCode.OK, info.StatusCode);
    }

    [Theory]
    [InlineData("/tim-information/v2/server/findByIk", 404)]
    [InlineData("/_matrix/client/versions", 404)]
    [InlineData("/metrics", 404)]
    public async Task UnknownPaths_Are404InTheApisFormat(string target, int status)
    {
        await using var api = await Api.StartAsync();

        using var response = await api.GetAsync(target, GoodToken);

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal("404", (await ErrorAsync(response)).Code);
        Assert.Equal(0, api.UserInfoCalls);
    }

    [Fact]
    public async Task OtherMethods_Are405_PreflightsAre204WithCors()
    {
        await using var api = await Api.StartAsync();

        using var post = new HttpRequestMessage(HttpMethod.Post, "/tim-information") { Content = new StringContent("{}") };
        using var refused = await api.Client.SendAsync(post, Ct);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, refused.StatusCode);
        Assert.Equal("GET, OPTIONS", refused.Content.Headers.Allow.Count > 0 ? string.Join(", ", refused.Content.Headers.Allow) : string.Join(", ", refused.Headers.GetValues("Allow")));

        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/tim-information/v1/server/findByIk");
        using var answer = await api.Client.SendAsync(preflight, Ct);
        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        Assert.Contains("Authorization", answer.Headers.GetValues("Access-Control-Allow-Headers").Single());
        Assert.Contains("X-TIM-User-Agent", answer.Headers.GetValues("Access-Control-Allow-Headers").Single());
    }

    [Fact]
    public async Task TheApiIsNotServedOnThePublicPort_NorMatrixOnTheApiPort()
    {
        await using var api = await Api.StartAsync();

        using var publicClient = api.Proxy.CreateClient();
        using var onPublic = await publicClient.GetAsync("/tim-information", Ct);

        Assert.Equal(HttpStatusCode.NotFound, onPublic.StatusCode);
        Assert.Contains("M_UNRECOGNIZED", await onPublic.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Metrics_CountRequestsByOperationAndStatus_AndTokenChecksByResult()
    {
        await using var api = await Api.StartAsync();

        (await api.GetAsync("/tim-information/v1/server/findByIk?ikNumber=109500969", GoodToken)).Dispose();
        (await api.GetAsync("/tim-information/v1/server/findByIk?ikNumber=109500969", GoodToken)).Dispose();
        (await api.GetAsync("/tim-information", null)).Dispose();

        var metrics = await HealthAsync(api.Proxy, "/metrics");
        Assert.Contains("messengerproxy_timinformation_requests_total{operation=\"findByIk\",status=\"200\"} 2", metrics);
        Assert.Contains("messengerproxy_timinformation_requests_total{operation=\"info\",status=\"401\"} 1", metrics);
        Assert.Contains("messengerproxy_timinformation_token_checks_total{result=\"valid\"} 1", metrics);
        Assert.Contains("messengerproxy_timinformation_token_checks_total{result=\"cached\"} 1", metrics);
        Assert.Contains("messengerproxy_timinformation_cached_tokens 1", metrics);
    }

    [Fact]
    public async Task Disabled_OpensNoListener()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "TimInformation:Enabled=false");

        Assert.Equal(0, proxy.InformationPort);
        Assert.DoesNotContain("tim-information", await HealthAsync(proxy, "/actuator/health/readiness"));
    }

    private static async Task<string> HealthAsync(ProxyHost proxy, string path)
    {
        using var client = new HttpClient { BaseAddress = proxy.HealthUri };
        using var response = await client.GetAsync(path, Ct);
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private static async Task<string?> ServerNameAsync(Api api, string ik)
    {
        using var response = await api.GetAsync($"/tim-information/v1/server/findByIk?ikNumber={ik}", GoodToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        return json.RootElement.GetProperty("serverName").GetString();
    }

    private static async Task<(string Code, string Message)> ErrorAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(2, json.RootElement.EnumerateObject().Count());
        return (json.RootElement.GetProperty("errorCode").GetString()!, json.RootElement.GetProperty("errorMessage").GetString()!);
    }

    /// <summary>A proxy with the API on, a stand-in homeserver (userinfo) that is also the registration service.</summary>
    private sealed class Api : IAsyncDisposable
    {
        private Api(RecordingUpstream homeserver, ManualTimeProvider clock)
        {
            Homeserver = homeserver;
            Clock = clock;
        }

        public RecordingUpstream Homeserver { get; }

        public ProxyHost Proxy { get; private set; } = null!;

        public ManualTimeProvider Clock { get; }

        public HttpClient Client { get; private set; } = null!;

        public int UserInfoStatus { get; set; } = 200;

        public string? UserInfoBody { get; set; }

        public TimeSpan UserInfoDelay { get; set; }

        public int UserInfoCalls => Homeserver.Requests.Count(r => r.RawTarget.StartsWith(UserInfoPath, StringComparison.Ordinal));

        public static async Task<Api> StartAsync(params string[] settings) => await StartAsync(serveList: true, settings);

        public static async Task<Api> StartAsync(bool serveList, params string[] settings)
        {
            var homeserver = await RecordingUpstream.StartAsync();
            var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
            var api = new Api(homeserver, clock);
            homeserver.Respond = (context, request) => api.RespondAsync(context, request, serveList);
            var url = homeserver.BaseUri.ToString().TrimEnd('/');
            var proxy = api.Proxy = await ProxyHost.StartAsync(url, b => b.Services.AddSingleton<TimeProvider>(clock),
                [$"Federation:RegistrationServiceUrl={url}", "Federation:ServerName=hs.example", "TimInformation:Enabled=true", .. settings]);
            api.Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy.InformationPort}") };
            if (serveList)
            {
                var cache = proxy.Services.GetRequiredService<FederationListCache>();
                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (cache.Current is null && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(20, Ct);
                }

                Assert.NotNull(cache.Current);
            }

            return api;
        }

        public Task<HttpResponseMessage> GetAsync(string target, string? token)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, target);
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            return Client.SendAsync(request, Ct);
        }

        public async ValueTask DisposeAsync()
        {
            Client.Dispose();
            await Proxy.DisposeAsync();
            await Homeserver.DisposeAsync();
        }

        private async Task RespondAsync(HttpContext context, RecordedRequest request, bool serveList)
        {
            context.Response.ContentType = "application/json";
            if (request.RawTarget.StartsWith("/backend/federation", StringComparison.Ordinal))
            {
                context.Response.StatusCode = serveList ? 200 : 503;
                await context.Response.WriteAsync(serveList ? List : "{}");
                return;
            }

            if (!request.RawTarget.StartsWith(UserInfoPath, StringComparison.Ordinal))
            {
                context.Response.StatusCode = 404;
                return;
            }

            if (UserInfoDelay > TimeSpan.Zero)
            {
                await Task.Delay(UserInfoDelay);
            }

            var token = context.Request.Query["access_token"].ToString();
            if (token is not (GoodToken or OtherGoodToken))
            {
                context.Response.StatusCode = 401;
                await context.Response.WriteAsync("""{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token"}""");
                return;
            }

            context.Response.StatusCode = UserInfoStatus;
            await context.Response.WriteAsync(UserInfoBody ?? """{"sub":"@alice:hs.example"}""");
        }
    }
}
