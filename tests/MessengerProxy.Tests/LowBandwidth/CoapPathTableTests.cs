using MessengerProxy.LowBandwidth.Mapping;

namespace MessengerProxy.Tests.LowBandwidth;

public sealed class CoapPathTableTests
{
    private readonly CoapPathTable _table = CoapPathTable.V1;

    [Fact]
    public void V1_Has57Codes()
    {
        Assert.Equal(57, _table.Count);
    }

    [Theory]
    [InlineData("/_matrix/client/versions", "0")]
    [InlineData("/_matrix/client/v3/sync", "7")]
    [InlineData("/_matrix/client/v3/rooms/!7mqP7DYBUOmwAweF:localhost/send/m.room.message/$.AAABeH6obLU", "9/!7mqP7DYBUOmwAweF:localhost/m.room.message/$.AAABeH6obLU")]
    [InlineData("/_matrix/client/v3/user/@frank:localhost/account_data/im.vector.setting.breadcrumbs", "r/@frank:localhost/im.vector.setting.breadcrumbs")]
    [InlineData("/_matrix/client/v3/join/%23roomIdOrAlias:localhost", "L/#roomIdOrAlias:localhost")]
    [InlineData("/_matrix/client/v3/pushrules/", "n")]
    [InlineData("/_matrix/client/v3/rooms/!r:x/state/m.room.name/", "8/!r:x/m.room.name/")]
    [InlineData("/_matrix/client/v3/rooms/a%2Fb/send/m.room.message/t%3Fx%23y%25z", "9/a%2Fb/m.room.message/t%3Fx%23y%25z")]
    public void Expand_And_Shorten_AreInverse(string rawPath, string shortForm)
    {
        var segments = shortForm.Split('/').Select(Uri.UnescapeDataString).ToList();

        Assert.Equal(CoapPathError.None, _table.TryExpand(segments, out var expanded));
        Assert.Equal(rawPath, expanded);
        Assert.Equal(segments, _table.Shorten(rawPath));
    }

    [Fact]
    public void Shorten_AcceptsR0Paths_AsLbClientsSendThem()
    {
        Assert.Equal(["7"], _table.Shorten("/_matrix/client/r0/sync"));
        Assert.Equal(["W", "@a:b"], _table.Shorten("/_matrix/client/r0/profile/@a:b"));
    }

    [Fact]
    public void Expand_FullPath_EscapesEachSegment()
    {
        Assert.Equal(CoapPathError.None, _table.TryExpand(["_matrix", "client", "v3", "rooms", "!r:x", "event", "$a/b?c"], out var path));

        Assert.Equal("/_matrix/client/v3/rooms/!r:x/event/$a%2Fb%3Fc", path);
    }

    [Fact]
    public void Expand_UnknownCode_IsAFullPath()
    {
        Assert.Equal(CoapPathError.None, _table.TryExpand(["AAA"], out var path));
        Assert.Equal("/AAA", path);
    }

    [Theory]
    [InlineData(CoapPathError.MissingParameters, "9", "!r:x", "m.room.message")]
    [InlineData(CoapPathError.ExtraSegments, "7", "extra")]
    [InlineData(CoapPathError.ExtraSegments, "e", "deviceid", "andmore")]
    public void Expand_WrongParameterCount_IsRefused(CoapPathError expected, params string[] segments)
    {
        Assert.Equal(expected, _table.TryExpand(segments, out _));
    }

    [Fact]
    public void Expand_NoSegments_IsRefused()
    {
        Assert.Equal(CoapPathError.Empty, _table.TryExpand([], out _));
    }

    [Fact]
    public void EveryCode_ExpandsToAPathOfTheV111Allowlist()
    {
        var matcher = new MessengerProxy.Policy.Endpoints.EndpointMatcher(MessengerProxy.Policy.Endpoints.EndpointTable.LoadMatrixV111());
        foreach (var code in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu".Select(c => c.ToString()))
        {
            var segments = new List<string> { code };
            while (_table.TryExpand(segments, out var path) == CoapPathError.MissingParameters)
            {
                segments.Add("p" + segments.Count);
            }

            Assert.Equal(CoapPathError.None, _table.TryExpand(segments, out var expanded));
            var statuses = new[] { "GET", "PUT", "POST", "DELETE" }.Select(m => matcher.Match(m, expanded).Status).ToList();
            Assert.True(statuses.Any(s => s == MessengerProxy.Policy.Endpoints.EndpointMatchStatus.Matched), $"code {code}: {expanded} is not in the v1.11 allowlist");
        }
    }
}
