using System.Net;
using MessengerProxy.Outbound.Destinations;

namespace MessengerProxy.Tests.Outbound;

public sealed class AddressRulesTests
{
    private static readonly AddressRules s_default = new([]);

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("127.255.255.254")]
    [InlineData("::1")]
    [InlineData("10.0.0.1")]
    [InlineData("10.255.255.255")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.168.1.1")]
    [InlineData("169.254.169.254")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.255")]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("::")]
    [InlineData("fc00::1")]
    [InlineData("fd12:3456::1")]
    [InlineData("fe80::1")]
    [InlineData("febf::1")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("ff02::1")]
    [InlineData("255.255.255.255")]
    [InlineData("::ffff:10.0.0.1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:169.254.169.254")]
    [InlineData("::ffff:0.0.0.0")]
    [InlineData("2001:2::1")]
    public void IsAllowed_InternalAddress_IsForbidden(string address)
    {
        Assert.False(s_default.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("1.1.1.1")]
    [InlineData("172.15.255.255")]
    [InlineData("172.32.0.0")]
    [InlineData("100.63.255.255")]
    [InlineData("100.128.0.0")]
    [InlineData("11.0.0.1")]
    [InlineData("2001:4860::8888")]
    [InlineData("2a00:1450:4001::200e")]
    [InlineData("::ffff:8.8.8.8")]
    public void IsAllowed_PublicAddress_IsAllowed(string address)
    {
        Assert.True(s_default.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.1.2.3", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("::1", false)]
    [InlineData("10.0.0.1", false)]
    [InlineData("192.168.1.1", false)]
    [InlineData("8.8.8.8", true)]
    public void IsAllowed_ConfiguredLoopbackNetwork_AllowsOnlyThatNetworkAmongInternalAddresses(string address, bool expected)
    {
        var rules = new AddressRules([IPNetwork.Parse("127.0.0.0/8")]);

        Assert.Equal(expected, rules.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("10.1.2.3", true)]
    [InlineData("10.1.2.4", false)]
    [InlineData("::ffff:10.1.2.3", true)]
    [InlineData("fd00::5", true)]
    [InlineData("fd00::6", false)]
    public void IsAllowed_ConfiguredSingleAddresses_AllowsExactlyThoseAddresses(string address, bool expected)
    {
        var rules = new AddressRules([new IPNetwork(IPAddress.Parse("10.1.2.3"), 32), new IPNetwork(IPAddress.Parse("fd00::5"), 128)]);

        Assert.Equal(expected, rules.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("64:ff9b::7f00:1")]
    [InlineData("64:ff9b::127.0.0.1")]
    [InlineData("64:ff9b::10.0.0.1")]
    [InlineData("64:ff9b::169.254.169.254")]
    [InlineData("64:ff9b::192.168.1.1")]
    [InlineData("2002:7f00:0001::")]
    [InlineData("2002:7f00:1::1")]
    [InlineData("2002:a00:1:5::1")]
    [InlineData("2002:a9fe:a9fe::")]
    [InlineData("2002:c0a8:101::1")]
    [InlineData("::127.0.0.1")]
    [InlineData("::10.0.0.1")]
    [InlineData("::169.254.169.254")]
    [InlineData("::ffff:0:127.0.0.1")]
    [InlineData("::ffff:0:a00:1")]
    [InlineData("::ffff:0:169.254.169.254")]
    public void IsAllowed_IPv6FormReachingAnInternalIPv4Address_IsForbidden(string address)
    {
        // NAT64, 6to4, IPv4-compatible and SIIT addresses carry the IPv4 address they lead to.
        Assert.False(s_default.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("64:ff9b::8.8.8.8")]
    [InlineData("64:ff9b::808:808")]
    [InlineData("2002:808:808::1")]
    [InlineData("::8.8.8.8")]
    [InlineData("::ffff:0:8.8.8.8")]
    public void IsAllowed_IPv6FormReachingAPublicIPv4Address_IsAllowed(string address)
    {
        Assert.True(s_default.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("64:ff9b:1::8.8.8.8")]
    [InlineData("64:ff9b:1:ffff::1")]
    [InlineData("2001:0:4136:e378:8000:63bf:3fff:fdd2")]
    [InlineData("2001::1")]
    [InlineData("2001:0:7f00:1::")]
    public void IsAllowed_TranslationWithoutAFixedIPv4Position_IsForbidden(string address)
    {
        // Local-use NAT64 (RFC 8215) puts the IPv4 address where its prefix length says; Teredo obfuscates it.
        Assert.False(s_default.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("64:ff9b::7f00:1", true)]
    [InlineData("2002:7f00:1::", true)]
    [InlineData("::ffff:0:127.0.0.1", true)]
    [InlineData("64:ff9b::a00:1", false)]
    public void IsAllowed_ConfiguredIPv4Network_AppliesToTheEmbeddedAddress(string address, bool expected)
    {
        var rules = new AddressRules([IPNetwork.Parse("127.0.0.0/8")]);

        Assert.Equal(expected, rules.IsAllowed(IPAddress.Parse(address)));
    }

    [Theory]
    [InlineData("::/0", "64:ff9b::7f00:1", false)]
    [InlineData("::/0", "2002:7f00:1::", false)]
    [InlineData("::/0", "64:ff9b:1::5", false)]
    [InlineData("2000::/3", "2002:a00:1::", false)]
    [InlineData("64:ff9b::/96", "64:ff9b::7f00:1", true)]
    [InlineData("64:ff9b::a00:0/104", "64:ff9b::10.1.2.3", true)]
    [InlineData("64:ff9b::a00:0/104", "64:ff9b::127.0.0.1", false)]
    [InlineData("64:ff9b:1::/48", "64:ff9b:1::5", true)]
    [InlineData("2001::/32", "2001:0:4136:e378:8000:63bf:3fff:fdd2", true)]
    public void IsAllowed_ConfiguredIPv6Network_AllowsTranslatedAddressesOnlyInsideTheTranslationPrefix(string network, string address, bool expected)
    {
        // A broad IPv6 entry must not open NAT64/6to4 to the operator's IPv4 networks; one that names translated addresses does.
        var rules = new AddressRules([IPNetwork.Parse(network)]);

        Assert.Equal(expected, rules.IsAllowed(IPAddress.Parse(address)));
    }

    [Fact]
    public void IsAllowed_ConfiguredIPv6Network_DoesNotAllowIPv4Addresses()
    {
        // ::/0 contains every IPv6 address, but it must not leak onto IPv4 (families are compared first).
        var rules = new AddressRules([IPNetwork.Parse("::/0")]);

        Assert.True(rules.IsAllowed(IPAddress.Parse("fe80::1")));
        Assert.False(rules.IsAllowed(IPAddress.Parse("10.0.0.1")));
    }
}
