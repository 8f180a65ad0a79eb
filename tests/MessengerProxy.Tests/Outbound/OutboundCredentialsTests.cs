using System.Text;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Outbound;

/// <summary>With <c>Outbound:ProxyUser</c>/<c>ProxyPassword</c>, only requests with those Basic credentials get through.</summary>
public sealed class OutboundCredentialsTests(OutboundFixture.WithCredentials fixture) : IClassFixture<OutboundFixture.WithCredentials>
{
    private string ProxyWith(string user, string password) =>
        $"http://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@127.0.0.1:{fixture.ProxyPort}";

    [Fact]
    public async Task Connect_WithTheCredentials_Forwarded_AndTheyNeverReachTheRemote()
    {
        var (id, exit, stdout, stderr) = await fixture.CurlViaAsync(ProxyWith(OutboundFixture.WithCredentials.User, OutboundFixture.WithCredentials.Password),
            "--write-out", "\n%{http_code}", fixture.RemoteUrl("/_matrix/federation/v1/version"));

        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        Assert.Null(fixture.Remote.Single(id).Header("Proxy-Authorization"));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("synapse", "wrong")]
    [InlineData("other", "s3cret: with colon")]
    public async Task Connect_WithoutOrWithWrongCredentials_407BeforeAnything(string? user, string? password)
    {
        var authorization = user is null ? string.Empty : $"Proxy-Authorization: Basic {Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + password))}\r\n";

        var response = await RawHttp.SendAsync(fixture.ProxyPort, $"CONNECT remote.test:{fixture.RemotePort} HTTP/1.1\r\n{authorization}\r\n");

        Assert.Equal(407, response.StatusCode);
        Assert.StartsWith("Basic realm=", response.Header("Proxy-Authenticate"));
        Assert.Contains("M_UNAUTHORIZED", response.BodyText);
    }

    [Fact]
    public async Task Curl_WithoutCredentials_Refused_NothingSent()
    {
        var (id, exit, _, stderr) = await fixture.CurlAsync(fixture.RemoteUrl("/_matrix/federation/v1/version"));

        Assert.NotEqual(0, exit);
        Assert.Contains("407", stderr);
        Assert.Empty(fixture.Remote.WithTestId(id));
    }

    [Fact]
    public async Task PlainHttp_NeedsTheCredentialsToo()
    {
        var (refusedId, _, refused, _) = await fixture.CurlAsync("--write-out", "\n%{http_code}", $"http://push.test:{fixture.PushPort}/_matrix/push/v1/notify");
        var (id, exit, stdout, stderr) = await fixture.CurlViaAsync(ProxyWith(OutboundFixture.WithCredentials.User, OutboundFixture.WithCredentials.Password),
            "--write-out", "\n%{http_code}", $"http://push.test:{fixture.PushPort}/_matrix/push/v1/notify");

        Assert.EndsWith("\n407", refused);
        Assert.Empty(fixture.Push.WithTestId(refusedId));
        Assert.True(exit == 0, stderr);
        Assert.EndsWith("\n200", stdout);
        Assert.Null(fixture.Push.Single(id).Header("Proxy-Authorization"));
    }
}
