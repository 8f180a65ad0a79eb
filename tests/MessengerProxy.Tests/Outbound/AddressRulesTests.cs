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

    [Fact]
    public void IsAllowed_ConfiguredIPv6Network_DoesNotAllowIPv4Addresses()
    {
        // ::/0 contains every IPv6 address, but it must not leak onto IPv4 (families are compared first).
        var rules = new AddressRules([IPNetwork.Parse("::/0")]);

        Assert.True(rules.IsAllowed(IPAddress.Parse("fe80::1")));
        Assert.False(rules.IsAllowed(IPAddress.Parse("10.0.0.1")));
    }
}
