using System.Net;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

public sealed class DestinationResolverTests
{
    [Fact]
    public async Task ResolveAsync_FixedAddressIsLoopbackAndNotAllowed_IsForbidden()
    {
        var resolver = Resolver(hostAddresses: new() { ["internal.example"] = "127.0.0.1" });

        var (addresses, failure) = await resolver.ResolveAsync("internal.example", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.Forbidden, failure);
        Assert.Empty(addresses);
    }

    [Fact]
    public async Task ResolveAsync_FixedAddressInAllowedNetwork_ReturnsIt()
    {
        var resolver = Resolver(hostAddresses: new() { ["internal.example"] = "127.0.0.1" }, allowedNetworks: ["127.0.0.1"]);

        var (addresses, failure) = await resolver.ResolveAsync("internal.example", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.None, failure);
        Assert.Equal([IPAddress.Loopback], addresses);
    }

    [Fact]
    public async Task ResolveAsync_FixedAddressesNameCaseDiffers_StillUsesThem()
    {
        var resolver = Resolver(hostAddresses: new() { ["internal.example"] = "8.8.4.4" });

        var (addresses, failure) = await resolver.ResolveAsync("Internal.EXAMPLE", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.None, failure);
        Assert.Equal([IPAddress.Parse("8.8.4.4")], addresses);
    }

    [Fact]
    public async Task ResolveAsync_SomeFixedAddressesForbidden_ReturnsOnlyTheAllowedOnes()
    {
        var resolver = Resolver(hostAddresses: new() { ["mixed.example"] = "10.0.0.1, 8.8.8.8,192.168.0.1 2001:4860::8888" });

        var (addresses, failure) = await resolver.ResolveAsync("mixed.example", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.None, failure);
        Assert.Equal([IPAddress.Parse("8.8.8.8"), IPAddress.Parse("2001:4860::8888")], addresses);
    }

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("2001:4860::8888")]
    public async Task ResolveAsync_PublicIpLiteral_ReturnsItWithoutLookup(string host)
    {
        var (addresses, failure) = await Resolver().ResolveAsync(host, TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.None, failure);
        Assert.Equal([IPAddress.Parse(host)], addresses);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("10.0.0.1")]
    [InlineData("::1")]
    [InlineData("::ffff:192.168.0.1")]
    [InlineData("169.254.169.254")]
    public async Task ResolveAsync_InternalIpLiteral_IsForbidden(string host)
    {
        var (addresses, failure) = await Resolver().ResolveAsync(host, TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.Forbidden, failure);
        Assert.Empty(addresses);
    }

    [Fact]
    public async Task ResolveAsync_InternalIpLiteralInAllowedNetwork_ReturnsIt()
    {
        var resolver = Resolver(allowedNetworks: ["10.0.0.0/8"]);

        var (addresses, failure) = await resolver.ResolveAsync("10.20.30.40", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.None, failure);
        Assert.Equal([IPAddress.Parse("10.20.30.40")], addresses);
    }

    [Fact]
    public async Task ResolveAsync_DnsNameResolvingToLoopback_IsForbidden()
    {
        // localhost comes from the hosts file, so this needs no DNS server.
        var (addresses, failure) = await Resolver().ResolveAsync("localhost", TestContext.Current.CancellationToken);

        Assert.Equal(ResolveFailure.Forbidden, failure);
        Assert.Empty(addresses);
    }

    [Fact]
    public async Task ResolveAsync_NameThatDoesNotExist_IsNotFound()
    {
        // .invalid never resolves (RFC 6761); without any DNS server the lookup may time out instead.
        var (addresses, failure) = await Resolver().ResolveAsync("a.invalid", TestContext.Current.CancellationToken);

        Assert.Contains(failure, new[] { ResolveFailure.NotFound, ResolveFailure.TimedOut });
        Assert.Empty(addresses);
    }

    [Fact]
    public async Task ResolveAsync_CallerCancelled_ThrowsInsteadOfReportingTimeout()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Resolver().ResolveAsync("a.invalid", cancelled.Token));
    }

    [Theory]
    [InlineData("10.0.0.1", "Forbidden")]
    [InlineData("fd00::1", "Forbidden")]
    [InlineData("localhost", "Forbidden")]
    [InlineData("Admin.LOCALHOST", "Forbidden")]
    [InlineData("internal.example", "Forbidden")]
    [InlineData("mixed.example", "None")]
    [InlineData("8.8.8.8", "None")]
    [InlineData("2001:4860::8888", "None")]
    public void JudgeWithoutDns_LiteralsFixedAddressesAndLocalhost_JudgedByTheAddressRules(string host, string expected)
    {
        var resolver = Resolver(hostAddresses: new() { ["internal.example"] = "10.1.2.3", ["mixed.example"] = "10.0.0.1, 8.8.8.8" });

        Assert.Equal(expected, resolver.JudgeWithoutDns(host).ToString());
    }

    [Fact]
    public void JudgeWithoutDns_LocalhostWithLoopbackAllowed_IsAllowed()
    {
        Assert.Equal(ResolveFailure.None, Resolver(allowedNetworks: ["127.0.0.0/8"]).JudgeWithoutDns("localhost"));
    }

    [Theory]
    [InlineData("remote.example")]
    [InlineData("localhost.example")]
    [InlineData("a.invalid")]
    public void JudgeWithoutDns_NameOnlyDnsKnows_IsNull(string host)
    {
        Assert.Null(Resolver().JudgeWithoutDns(host));
    }

    private static DestinationResolver Resolver(Dictionary<string, string>? hostAddresses = null, List<string>? allowedNetworks = null)
    {
        var options = new OutboundOptions
        {
            AllowedNetworks = allowedNetworks ?? [],
            DnsTimeout = TimeSpan.FromSeconds(2),
        };
        foreach (var (name, value) in hostAddresses ?? [])
        {
            options.HostAddresses[name] = value;
        }

        return new DestinationResolver(Options.Create(options));
    }
}
