using System.Text.Json;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// Without a usable federation list (the registration service unreachable, nothing saved) federation fails
/// closed; the homeserver can read that too: its tunnels are accepted and every request inside is answered
/// <c>403 M_FORBIDDEN "Federation is suspended: …"</c>, and nothing reaches the remote.
/// </summary>
public sealed class OutboundSuspendedFederationTests(OutboundFixture.WithoutFederationList fixture) : IClassFixture<OutboundFixture.WithoutFederationList>
{
    [Fact]
    public async Task NoFederationList_EveryRequestInsideAnsweredFederationIsSuspended()
    {
        var id = Guid.NewGuid().ToString("N");
        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            foreach (var path in new[] { "/_matrix/federation/v1/version", "/_matrix/federation/v1/event/%24e" })
            {
                var response = await OutboundFixture.SendInTunnelAsync(tls, "GET", path, "remote.test",
                    $"Authorization: {OutboundFixture.XMatrix("remote.test")}\r\n{RecordingUpstream.TestIdHeader}: {id}\r\n");

                Assert.Equal(403, response.StatusCode);
                using var body = JsonDocument.Parse(response.Body);
                Assert.Equal("M_FORBIDDEN", body.RootElement.GetProperty("errcode").GetString());
                Assert.StartsWith("Federation is suspended: ", body.RootElement.GetProperty("error").GetString());
            }
        }

        Assert.Empty(fixture.Remote.WithTestId(id));
    }
}
