using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

/// <summary>Browser clients may send X-TIM-User-Agent: every preflight answer allows it, whoever answers.</summary>
public sealed class TimUserAgentCorsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task PreflightTheHomeserverAnswers_GetsTheTimHeaderAppended()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) =>
        {
            context.Response.Headers.AccessControlAllowOrigin = "*";
            context.Response.Headers.AccessControlAllowHeaders = "X-Requested-With, Content-Type, Authorization, Date";
            return Task.CompletedTask;
        };
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("OPTIONS", "/_matrix/client/v3/login",
            "Origin: https://web.example\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-tim-user-agent\r\n"));

        Assert.Equal(200, response.StatusCode);
        Assert.Single(upstream.Requests);
        Assert.Equal("X-Requested-With, Content-Type, Authorization, Date, X-TIM-User-Agent", response.Header("Access-Control-Allow-Headers"));
    }

    [Fact]
    public async Task TheProxysOwnAnswers_AllowTheTimHeader()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        using var client = proxy.CreateClient();
        using var response = await client.GetAsync("/_matrix/client/v9/unknown", Ct);

        Assert.Equal(404, (int)response.StatusCode);
        Assert.Equal("X-Requested-With, Content-Type, Authorization, X-TIM-User-Agent", response.Headers.GetValues("Access-Control-Allow-Headers").Single());
    }
}
