using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Tests.Policy;

public sealed class XMatrixAuthorizationTests
{
    [Theory]
    [InlineData("X-Matrix origin=\"origin.example.org\",destination=\"dest.example.org\",key=\"ed25519:key1\",sig=\"ABCDEF\"", "origin.example.org", "dest.example.org")]
    [InlineData("X-Matrix origin=origin.example.org,key=ed25519:key1,sig=ABCDEF", "origin.example.org", null)]
    [InlineData("x-matrix ORIGIN=origin.example.org:8448 , KEY = \"ed25519:key1\" ,\tsig=AB+/CD==", "origin.example.org:8448", null)]
    [InlineData("X-Matrix sig=\"s\",key=\"k\",destination=d.example.org,origin=\"[2001:db8::1]:8448\"", "[2001:db8::1]:8448", "d.example.org")]
    [InlineData("X-Matrix   origin=\"o.example\\\\.org\",key=k,sig=s", "o.example\\.org", null)]
    [InlineData("X-Matrix origin=\"a\\\"b\",key=k,sig=s", "a\"b", null)]
    public void Parse_SpecForms(string header, string origin, string? destination)
    {
        Assert.True(XMatrixAuthorization.TryParse(header, out var auth, out var error), error);
        Assert.Equal(origin, auth.Origin);
        Assert.Equal(destination, auth.Destination);
    }

    [Theory]
    [InlineData("")]
    [InlineData("Bearer abc")]
    [InlineData("X-Matrix")]
    [InlineData("X-Matrixorigin=a,key=k,sig=s")]
    [InlineData("X-Matrix origin=a")]
    [InlineData("X-Matrix key=k,sig=s")]
    [InlineData("X-Matrix origin=,key=k,sig=s")]
    [InlineData("X-Matrix origin=a,origin=b,key=k,sig=s")]
    [InlineData("X-Matrix origin=a,ORIGIN=b,key=k,sig=s")]
    [InlineData("X-Matrix origin=\"a,key=k,sig=s")]
    [InlineData("X-Matrix origin=a key=k sig=s")]
    [InlineData("X-Matrix origin=a,,key=k,sig=s")]
    [InlineData("X-Matrix origin=a,key=k,sig=s,")]
    [InlineData("X-Matrix =a,key=k,sig=s")]
    [InlineData("X-Matrix origin=a;evil,key=k,sig=s")]
    [InlineData("X-Matrix origin=\"a\u0001\",key=k,sig=s")]
    public void Parse_Garbage_IsRefused(string header)
    {
        Assert.False(XMatrixAuthorization.TryParse(header, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("example.org", "example.org")]
    [InlineData("Example.ORG:8448", "Example.ORG")]
    [InlineData("1.2.3.4:443", "1.2.3.4")]
    [InlineData("[::1]:8448", "::1")]
    [InlineData("[2001:db8::1]", "2001:db8::1")]
    public void ServerNames_HostWithoutPort(string serverName, string host)
    {
        Assert.True(ServerNames.TryGetHost(serverName, out var actual));
        Assert.Equal(host, actual.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("example.org:")]
    [InlineData("example.org:0")]
    [InlineData("example.org:65536")]
    [InlineData("example.org:80a")]
    [InlineData("exa mple.org")]
    [InlineData("example..org")]
    [InlineData(".example.org")]
    [InlineData("example.org/path")]
    [InlineData("[::1")]
    [InlineData("[1.2.3.4]")]
    [InlineData("user@example.org")]
    public void ServerNames_Invalid(string serverName)
    {
        Assert.False(ServerNames.TryGetHost(serverName, out _));
    }

    [Theory]
    [InlineData("@alice:example.org", "example.org")]
    [InlineData("@alice:example.org:8448", "example.org:8448")]
    [InlineData("@a:[::1]:8448", "[::1]:8448")]
    public void UserIds_ServerName(string userId, string serverName)
    {
        Assert.True(ServerNames.TryGetUserServerName(userId, out var actual));
        Assert.Equal(serverName, actual.ToString());
    }

    [Theory]
    [InlineData("alice:example.org")]
    [InlineData("@:example.org")]
    [InlineData("@alice")]
    [InlineData("@alice:")]
    [InlineData("@alice:exa mple.org")]
    public void UserIds_Invalid(string userId)
    {
        Assert.False(ServerNames.TryGetUserServerName(userId, out _));
    }
}
