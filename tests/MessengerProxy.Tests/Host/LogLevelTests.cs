using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Host;

/// <summary>Runtime log levels on the health port: change, see the effect, automatic and explicit reset, refusals.</summary>
public sealed class LogLevelTests
{
    private const string Auth = "Authorization: Bearer syt_token\r\n";

    // A createRoom without room_version gets the default one written in, logged at Debug by the TIM content policy.
    private const string RewriteLine = "RuleRewrote: Rewrote the body of POST /_matrix/client/v3/createRoom by TIM rule room-version";

    [Fact]
    public async Task DebugForACategory_ShowsDebugLines_UntilTheResetDelayHasPassed()
    {
        await using var host = await Host.StartAsync();

        await host.CreateRoomAsync();
        Assert.Equal(0, host.RewriteLines);

        var set = await host.SendAsync("PUT", "/actuator/logging/DEBUG/MessengerProxy.Inbound");
        Assert.Equal(202, set.StatusCode);
        using (var json = JsonDocument.Parse(set.BodyText))
        {
            var level = Assert.Single(json.RootElement.GetProperty("levels").EnumerateArray());
            Assert.Equal("MessengerProxy.Inbound", level.GetProperty("logger").GetString());
            Assert.Equal("DEBUG", level.GetProperty("level").GetString());
            Assert.Equal(host.Clock.GetUtcNow().AddMinutes(30), level.GetProperty("resetAt").GetDateTimeOffset());
        }

        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);

        host.Clock.Advance(TimeSpan.FromMinutes(29));
        await host.CreateRoomAsync();
        Assert.Equal(2, host.RewriteLines);

        host.Clock.Advance(TimeSpan.FromMinutes(1));
        await host.CreateRoomAsync();
        Assert.Equal(2, host.RewriteLines);
        Assert.Contains(host.Logs.Lines, l => l.Contains("LogLevelReset: Log level Debug of MessengerProxy.Inbound expired", StringComparison.Ordinal));
        using var after = JsonDocument.Parse((await host.SendAsync("GET", "/actuator/logging/levels")).BodyText);
        Assert.Empty(after.RootElement.GetProperty("levels").EnumerateArray());
    }

    [Fact]
    public async Task RootLevel_ChangesTheDefault_AndAnotherCategoryIsUnaffected()
    {
        await using var host = await Host.StartAsync();

        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/debug")).StatusCode);
        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);

        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/ERROR/MessengerProxy.Inbound.Policies")).StatusCode);
        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);
    }

    [Fact]
    public async Task ExplicitReset_RestoresTheConfiguredLevelAtOnce()
    {
        await using var host = await Host.StartAsync();
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/TRACE/MessengerProxy.Inbound")).StatusCode);
        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);

        var reset = await host.SendAsync("DELETE", "/actuator/logging/MessengerProxy.Inbound");
        Assert.Equal(200, reset.StatusCode);
        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);

        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/DEBUG")).StatusCode);
        Assert.Equal(200, (await host.SendAsync("DELETE", "/actuator/logging")).StatusCode);
        await host.CreateRoomAsync();
        Assert.Equal(1, host.RewriteLines);
    }

    [Fact]
    public async Task Levels_ListsTheAcceptedNames()
    {
        await using var host = await Host.StartAsync();

        var levels = await host.SendAsync("GET", "/actuator/logging/levels");

        Assert.Equal(200, levels.StatusCode);
        using var json = JsonDocument.Parse(levels.BodyText);
        Assert.Equal(["ERROR", "WARN", "INFO", "DEBUG", "TRACE"], json.RootElement.GetProperty("acceptedValues").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(1800, json.RootElement.GetProperty("resetAfterSeconds").GetInt64());
    }

    [Theory]
    [InlineData("PUT", "/actuator/logging/VERBOSE", 400, "Unknown log level")]
    [InlineData("PUT", "/actuator/logging/Information/MessengerProxy", 400, "Unknown log level")]
    [InlineData("PUT", "/actuator/logging/DEBUG/Messenger%20Proxy", 400, "logger category")]
    [InlineData("PUT", "/actuator/logging/DEBUG/a/b", 404, "Not a logging endpoint")]
    [InlineData("POST", "/actuator/logging/DEBUG", 405, "Method not allowed")]
    [InlineData("PUT", "/actuator/logging/levels", 405, "Method not allowed")]
    public async Task BadRequests_AreRefused_AndChangeNothing(string method, string target, int status, string message)
    {
        await using var host = await Host.StartAsync();

        var response = await host.SendAsync(method, target);

        Assert.Equal(status, response.StatusCode);
        Assert.Contains(message, response.BodyText);
        await host.CreateRoomAsync();
        Assert.Equal(0, host.RewriteLines);
    }

    [Fact]
    public async Task WithAToken_EveryLoggingRequestNeedsIt_HealthDoesNot()
    {
        await using var host = await Host.StartAsync("Health:LogLevels:Token=0123456789abcdef0123");

        Assert.Equal(401, (await host.SendAsync("PUT", "/actuator/logging/DEBUG")).StatusCode);
        Assert.Equal(401, (await host.SendAsync("GET", "/actuator/logging/levels", "Authorization: Bearer wrong-token-0123456789\r\n")).StatusCode);
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/DEBUG", "Authorization: Bearer 0123456789abcdef0123\r\n")).StatusCode);
        var liveness = await host.SendAsync("GET", "/actuator/health/liveness");
        Assert.Equal(200, liveness.StatusCode);
    }

    [Fact]
    public async Task TheLoggingEndpointsAreNotOnThePublicPort()
    {
        await using var host = await Host.StartAsync();

        var response = await RawHttp.SendAsync(host.Proxy.InboundPort, RawHttp.Request("PUT", "/actuator/logging/DEBUG"));

        Assert.Equal(404, response.StatusCode);
    }

    [Fact]
    public async Task TooManyCategories_Are400()
    {
        await using var host = await Host.StartAsync("Health:LogLevels:MaxOverrides=2");

        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/DEBUG/A")).StatusCode);
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/DEBUG/B")).StatusCode);
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/TRACE/B")).StatusCode);
        var third = await host.SendAsync("PUT", "/actuator/logging/DEBUG/C");
        Assert.Equal(400, third.StatusCode);
        Assert.Contains("M_LIMIT_EXCEEDED", third.BodyText);
    }

    [Fact]
    public async Task RequestTargetCategories_StayAtWarning_WhateverLevelIsSet()
    {
        await using var host = await Host.StartAsync();
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/TRACE")).StatusCode);
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/TRACE/Yarp")).StatusCode);
        Assert.Equal(202, (await host.SendAsync("PUT", "/actuator/logging/DEBUG/Microsoft.AspNetCore.Hosting.Diagnostics")).StatusCode);

        var response = await RawHttp.SendAsync(host.Proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/v3/rooms/!secretroom:hs.example/state?access_token=syt_secret_query_token"));
        await host.CreateRoomAsync();

        Assert.Equal(200, response.StatusCode);
        Assert.Single(host.Upstream.Requests, r => r.RawTarget.Contains("syt_secret_query_token", StringComparison.Ordinal));
        Assert.Equal(1, host.RewriteLines);
        Assert.DoesNotContain(host.Logs.Lines, l => l.Contains("syt_secret_query_token", StringComparison.Ordinal) || l.Contains("secretroom", StringComparison.Ordinal));
    }

    private sealed class Host : IAsyncDisposable
    {
        private Host(RecordingUpstream upstream, ProxyHost proxy, ManualTimerClock clock, LogCapture logs)
        {
            Upstream = upstream;
            Proxy = proxy;
            Clock = clock;
            Logs = logs;
        }

        public RecordingUpstream Upstream { get; }

        public ProxyHost Proxy { get; }

        public ManualTimerClock Clock { get; }

        public LogCapture Logs { get; }

        public int RewriteLines => Logs.Lines.Count(l => l.Contains(RewriteLine, StringComparison.Ordinal));

        public static async Task<Host> StartAsync(params string[] settings)
        {
            var upstream = await RecordingUpstream.StartAsync();
            var clock = new ManualTimerClock(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));
            var logs = new LogCapture();
            var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), b =>
            {
                b.Services.AddSingleton<TimeProvider>(clock);
                b.Logging.AddProvider(logs);
            }, settings);
            return new Host(upstream, proxy, clock, logs);
        }

        public async Task CreateRoomAsync()
        {
            var response = await RawHttp.SendAsync(Proxy.InboundPort, RawHttp.Request("POST", "/_matrix/client/v3/createRoom", Auth, "{}"));
            Assert.Equal(200, response.StatusCode);
        }

        public Task<RawResponse> SendAsync(string method, string target, string headers = "") =>
            RawHttp.SendAsync(Proxy.HealthPort, RawHttp.Request(method, target, headers));

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
        }
    }
}
