using Microsoft.Extensions.Logging;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>Refusals are logged with what identifies no person: user IDs, room IDs and aliases in a path never reach the log.</summary>
public sealed class RefusalLoggingTests
{
    [Theory]
    [InlineData("GET", "/_matrix/client/v3/profile/@alice:example.org/m.custom_key", "/_matrix/client/v3/profile/*/*")]
    [InlineData("POST", "/_matrix/client/v3/rooms/!secretroom:example.org/report", "/_matrix/client/v3/rooms/*/report")]
    [InlineData("GET", "/_synapse/admin/v2/users/%40alice%3Aexample.org", "/_synapse/admin/v2/*/*")]
    [InlineData("GET", "/_matrix/client/unstable/org.matrix.msc3575/rooms/%23alias:example.org", "/_matrix/client/unstable/*/rooms/*")]
    [InlineData("DELETE", "/_matrix/client/v3/rooms/!secretroom:example.org/send/m.room.message/1", "/_matrix/client/v3/rooms/*/send/*/*")]
    public async Task RefusedPath_IsLoggedMasked(string method, string target, string logged)
    {
        var logs = new LogCapture();
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), b => b.Logging.AddProvider(logs));

        var response = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request(method, target, "Authorization: Bearer t\r\n"));

        Assert.InRange(response.StatusCode, 404, 405);
        var line = Assert.Single(logs.Lines, l => l.Contains("RequestRejected", StringComparison.Ordinal));
        Assert.Contains(logged, line, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secretroom", line, StringComparison.Ordinal);
        Assert.DoesNotContain("alias", line, StringComparison.Ordinal);
        Assert.DoesNotContain("example.org", line, StringComparison.Ordinal);
    }
}
