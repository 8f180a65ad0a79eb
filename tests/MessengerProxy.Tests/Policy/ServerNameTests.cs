using MessengerProxy.Federation;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Tests.Policy;

public sealed class ServerNameTests
{
    [Theory]
    [InlineData("Example.ORG", "example.org", null, "example.org")]
    [InlineData("Example.org:8448", "example.org", 8448, "example.org:8448")]
    [InlineData("192.0.2.7:443", "192.0.2.7", 443, "192.0.2.7:443")]
    [InlineData("[2001:DB8::1]:8448", "2001:db8::1", 8448, "[2001:db8::1]:8448")]
    [InlineData("[::1]", "::1", null, "[::1]")]
    public void TryParse_NormalisesHostAndKeepsThePortApart(string text, string host, int? port, string normal)
    {
        Assert.True(ServerName.TryParse(text, out var name));
        Assert.Equal(host, name.Host);
        Assert.Equal(port, name.Port);
        Assert.Equal(normal, name.ToString());
        Assert.True(name.HostEquals(host.ToUpperInvariant()));
    }

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("a b.org")]
    [InlineData("example.org:")]
    [InlineData("example.org:0")]
    [InlineData("example.org:65536")]
    [InlineData("[2001:db8::1")]
    [InlineData("b\u00fccher.example")]
    [InlineData("\u212Aey.example")]
    public void TryParse_RefusesWhatTheGrammarDoesNot(string? text) => Assert.False(ServerName.TryParse(text, out _));

    [Theory]
    [InlineData("KEY.example", "key.example")]
    [InlineData("already.lower", "already.lower")]
    [InlineData("\u212Aey.example", "\u212Aey.example")]
    [InlineData("\u00C4.example", "\u00C4.example")]
    public void NormalizeHost_LowerCasesAsciiLettersOnly(string host, string expected) =>
        Assert.Equal(expected, ServerName.NormalizeHost(host));

    [Fact]
    public void TheOwnServerName_IsComputedFromTheOptions_InItsNormalForm()
    {
        Assert.Equal("[2001:db8::1]:8448", new FederationOptions { ServerName = "[2001:DB8::1]:8448" }.OwnServerName.ToString());
        Assert.Equal("hs.example", new FederationOptions { ServerName = "HS.Example" }.OwnServerName?.Host);
        Assert.Null(new FederationOptions { ServerName = "" }.OwnServerName);
    }

    [Fact]
    public void TheProxysListCopy_DoesNotFoldALookAlikeIntoAnAsciiDomain()
    {
        // KELVIN SIGN + "ey": Unicode lower-casing (ToLowerInvariant) made it "key.example.org", a domain the
        // list never named; only ASCII letters are folded now, so the entry stays the distinct name it is.
        var (list, _) = FederationListCopy.Parse("""{"version":1,"domainList":[{"domain":"\u212Aey.example.org","telematikID":"t"}]}"""u8.ToArray());

        Assert.False(list.Contains("key.example.org"));
        Assert.False(list.Contains("KEY.example.org"));
    }
}
