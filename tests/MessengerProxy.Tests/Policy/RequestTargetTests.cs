using MessengerProxy.Policy;

namespace MessengerProxy.Tests.Policy;

public sealed class RequestTargetTests
{
    [Theory]
    [InlineData("/_matrix/client/versions", "/_matrix/client/versions", "")]
    [InlineData("/_matrix/client/v3/rooms/!r:ex.org/event/$e?x=1&a=2", "/_matrix/client/v3/rooms/!r:ex.org/event/$e", "x=1&a=2")]
    [InlineData("/a/%2F%2f%40%3A%25?", "/a/%2F%2f%40%3A%25", "")]
    [InlineData("/a?filter={\"b\":[1]}|x", "/a", "filter={\"b\":[1]}|x")]
    public void TryParse_OriginForm_SplitsPathAndQueryWithoutDecoding(string raw, string path, string query)
    {
        Assert.Equal(RequestTargetError.None, RequestTarget.TryParse(raw, out var target));
        Assert.Equal(path, target.Path.ToString());
        Assert.Equal(query, target.Query.ToString());
        Assert.Equal(raw, target.Raw);
    }

    [Theory]
    [InlineData("", RequestTargetError.NotOriginForm)]
    [InlineData("*", RequestTargetError.NotOriginForm)]
    [InlineData("http://evil/_matrix/client/versions", RequestTargetError.NotOriginForm)]
    [InlineData("evil:443", RequestTargetError.NotOriginForm)]
    [InlineData("/_matrix\\client", RequestTargetError.InvalidCharacter)]
    [InlineData("/a b", RequestTargetError.InvalidCharacter)]
    [InlineData("/a|b", RequestTargetError.InvalidCharacter)]
    [InlineData("/a\"b", RequestTargetError.InvalidCharacter)]
    [InlineData("/caf\u00e9", RequestTargetError.InvalidCharacter)]
    [InlineData("/a#frag", RequestTargetError.InvalidCharacter)]
    [InlineData("/a?b#frag", RequestTargetError.InvalidCharacter)]
    [InlineData("/a?b c", RequestTargetError.InvalidCharacter)]
    [InlineData("/a%2", RequestTargetError.InvalidPercentEncoding)]
    [InlineData("/a%zz", RequestTargetError.InvalidPercentEncoding)]
    [InlineData("/a?x=%g0", RequestTargetError.InvalidPercentEncoding)]
    [InlineData("/a%00b", RequestTargetError.EncodedControlCharacter)]
    [InlineData("/a%0D%0Ab", RequestTargetError.EncodedControlCharacter)]
    [InlineData("/a%7f", RequestTargetError.EncodedControlCharacter)]
    public void TryParse_Malformed_IsRefusedWithReason(string raw, RequestTargetError expected)
    {
        Assert.Equal(expected, RequestTarget.TryParse(raw, out _));
    }

    [Theory]
    [InlineData(".", true)]
    [InlineData("..", true)]
    [InlineData("%2e", true)]
    [InlineData("%2E%2e", true)]
    [InlineData(".%2E", true)]
    [InlineData("...", false)]
    [InlineData("%2e%2e%2e", false)]
    [InlineData(".a", false)]
    [InlineData("%2f", false)]
    [InlineData("", false)]
    [InlineData("%252e", false)]
    public void IsDotSegment_RecognisesPlainAndEncodedForms(string segment, bool expected)
    {
        Assert.Equal(expected, RequestTarget.IsDotSegment(segment));
    }

    [Theory]
    [InlineData("access_token=abc", true)]
    [InlineData("since=1&access_token=abc", true)]
    [InlineData("access%5Ftoken=abc", true)]
    [InlineData("access_token", true)]
    [InlineData("xaccess_token=abc", false)]
    [InlineData("token=access_token", false)]
    [InlineData("", false)]
    public void QueryContainsKey_MatchesDecodedNamesOnly(string query, bool expected)
    {
        Assert.Equal(expected, RequestTarget.QueryContainsKey(query, "access_token"));
    }
}
