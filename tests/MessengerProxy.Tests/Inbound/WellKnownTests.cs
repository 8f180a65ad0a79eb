using System.Net;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

public sealed class WellKnownTests
{
    [Fact]
    public async Task Server_IsAnsweredFromConfiguration_WithoutAskingTheHomeserver()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "WellKnown:Server=matrix.example.org:443");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/server"));

        Assert.Equal(200, response.StatusCode);
        Assert.Equal("""{"m.server":"matrix.example.org:443"}""", response.BodyText);
        Assert.Equal("*", response.Header("Access-Control-Allow-Origin"));
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Server_NotConfigured_Is404NotFound()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/server"));

        RejectionTests.AssertMatrixError(response, 404, "M_NOT_FOUND");
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Client_ForwardMode_RewritesBaseUrlAndKeepsTheRest()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync("""{"m.homeserver":{"base_url":"http://synapse:8008"},"m.identity_server":{"base_url":"https://id.example.org"},"org.example.custom":{"a":1}}""");
        };
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:PublicBaseUrl=https://matrix.example.org");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/client"));

        Assert.Equal(200, response.StatusCode);
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal("https://matrix.example.org", body.RootElement.GetProperty("m.homeserver").GetProperty("base_url").GetString());
        Assert.Equal("https://id.example.org", body.RootElement.GetProperty("m.identity_server").GetProperty("base_url").GetString());
        Assert.Equal(1, body.RootElement.GetProperty("org.example.custom").GetProperty("a").GetInt32());
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task Client_StaticMode_IsAnsweredFromConfiguration()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "WellKnown:ClientMode=Static", "Inbound:PublicBaseUrl=https://matrix.example.org", "WellKnown:IdentityServerBaseUrl=https://id.example.org");

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/client"));

        Assert.Equal(200, response.StatusCode);
        Assert.Equal("""{"m.homeserver":{"base_url":"https://matrix.example.org"},"m.identity_server":{"base_url":"https://id.example.org"}}""", response.BodyText);
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task Support_IsRelayedFromTheConfiguredRegistrationEndpoint()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var registration = await RecordingUpstream.StartAsync();
        registration.Respond = (context, request) =>
        {
            if (!request.RawTarget.EndsWith("/example.org", StringComparison.Ordinal))
            {
                context.Response.StatusCode = 404;
                return Task.CompletedTask;
            }

            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync("""{"contacts":[{"email_address":"admin@example.org","matrix_id":"@admin:example.org","role":"m.role.admin"}],"support_page":"https://example.org/support"}""");
        };
        var supportBase = registration.BaseUri.ToString().TrimEnd('/') + "/backend/well-known-support/";
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), $"WellKnown:SupportUrl={supportBase}example.org");
        await using var missing = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), $"WellKnown:SupportUrl={supportBase}other.org");

        var found = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support"));
        var notFound = await RawHttp.SendAsync(missing.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support"));

        Assert.Equal(200, found.StatusCode);
        using var body = JsonDocument.Parse(found.Body);
        Assert.Equal("m.role.admin", body.RootElement.GetProperty("contacts")[0].GetProperty("role").GetString());
        Assert.Equal("https://example.org/support", body.RootElement.GetProperty("support_page").GetString());
        RejectionTests.AssertMatrixError(notFound, 404, "M_NOT_FOUND");
        Assert.Empty(upstream.Requests);
        Assert.Equal("/backend/well-known-support/example.org", registration.Requests.First().RawTarget);
    }

    [Fact]
    public async Task Support_RegistrationServiceDownOrBroken_Is502()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var broken = await RecordingUpstream.StartAsync();
        broken.Respond = (context, _) => context.Response.WriteAsync("not json");
        await using var down = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), $"WellKnown:SupportUrl=http://127.0.0.1:{LoopbackPorts.Tcp()}/support");
        await using var garbage = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), $"WellKnown:SupportUrl={broken.BaseUri}support");

        RejectionTests.AssertMatrixError(await RawHttp.SendAsync(down.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support")), 502, "M_UNKNOWN");
        RejectionTests.AssertMatrixError(await RawHttp.SendAsync(garbage.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support")), 502, "M_UNKNOWN");
    }

    [Fact]
    public async Task Support_NotConfigured_Is404()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("GET", "/.well-known/matrix/support"));

        RejectionTests.AssertMatrixError(response, 404, "M_NOT_FOUND");
        Assert.Equal(HttpStatusCode.NotFound, (HttpStatusCode)response.StatusCode);
    }
}
