using MessengerProxy.Outbound.Forwarding;

namespace MessengerProxy.Tests.Outbound;

public sealed class OutboundRequestHandlerTests
{
    [Theory]
    [InlineData("http://host/path?q", "host", 80, "/path?q")]
    [InlineData("http://host:8080", "host", 8080, "/")]
    [InlineData("http://host", "host", 80, "/")]
    [InlineData("http://host?x", "host", 80, "/?x")]
    [InlineData("http://host:8080?x=1&y", "host", 8080, "/?x=1&y")]
    [InlineData("http://host/", "host", 80, "/")]
    [InlineData("http://[::1]:8080/a", "::1", 8080, "/a")]
    [InlineData("http://[::1]/a", "::1", 80, "/a")]
    [InlineData("http://[2001:DB8::1]", "2001:db8::1", 80, "/")]
    [InlineData("http://192.0.2.7:65535/x/y", "192.0.2.7", 65535, "/x/y")]
    [InlineData("HTTP://Push.Example:8080/_matrix/push/v1/notify", "push.example", 8080, "/_matrix/push/v1/notify")]
    public void TrySplitAbsoluteHttp_AbsoluteHttpTarget_SplitsHostPortAndOriginForm(string raw, string host, int port, string originForm)
    {
        Assert.True(OutboundDirection.TrySplitAbsoluteHttp(raw, out var parsedHost, out var parsedPort, out var parsedOriginForm, out var why), why);
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
        Assert.Equal(originForm, parsedOriginForm);
    }

    [Theory]
    [InlineData("https://host/path")]
    [InlineData("HTTPS://host/path")]
    public void TrySplitAbsoluteHttp_Https_IsRefusedPointingToConnect(string raw)
    {
        Assert.False(OutboundDirection.TrySplitAbsoluteHttp(raw, out _, out _, out _, out var why));
        Assert.Contains("CONNECT", why);
    }

    [Theory]
    [InlineData("/a")]
    [InlineData("host:443")]
    [InlineData("*")]
    [InlineData("")]
    [InlineData("ftp://host/")]
    [InlineData("http:/host/")]
    public void TrySplitAbsoluteHttp_NotAnAbsoluteHttpTarget_IsRefused(string raw)
    {
        Assert.False(OutboundDirection.TrySplitAbsoluteHttp(raw, out var host, out _, out _, out var why));
        Assert.Equal(string.Empty, host);
        Assert.Contains("forward proxy", why);
    }

    [Theory]
    [InlineData("http://user@host/")]
    [InlineData("http://user:pw@host/")]
    [InlineData("http:///a")]
    [InlineData("http://")]
    [InlineData("http://host:99999/")]
    [InlineData("http://host:0/")]
    [InlineData("http://host:/")]
    [InlineData("http://host:x/")]
    [InlineData("http://[::1/")]
    [InlineData("http://[::1]x/")]
    [InlineData("http://::1/")]
    [InlineData("http://bad_host/")]
    [InlineData("http://host#frag")]
    public void TrySplitAbsoluteHttp_MalformedAuthority_IsRefused(string raw)
    {
        Assert.False(OutboundDirection.TrySplitAbsoluteHttp(raw, out var host, out _, out _, out var why));
        Assert.Equal(string.Empty, host);
        Assert.Contains("authority", why);
    }
}
