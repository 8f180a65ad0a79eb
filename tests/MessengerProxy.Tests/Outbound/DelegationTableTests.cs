using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

public sealed class DelegationTableTests
{
    private static readonly DateTimeOffset s_start = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_lifetime = TimeSpan.FromHours(1);

    [Fact]
    public void ServerNamesFor_UnknownHost_IsEmpty()
    {
        var (table, _) = Table();

        Assert.Empty(table.ServerNamesFor("matrix.example.net"));
    }

    [Fact]
    public void Learn_Delegation_IsReportedUntilTheLifetimeEnds()
    {
        var (table, time) = Table();

        table.Learn("example.org", "matrix.example.net");
        Assert.Equal(["example.org"], table.ServerNamesFor("matrix.example.net"));

        time.Advance(s_lifetime - TimeSpan.FromSeconds(1));
        Assert.Equal(["example.org"], table.ServerNamesFor("matrix.example.net"));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(table.ServerNamesFor("matrix.example.net"));
    }

    [Fact]
    public void Learn_SameDelegationAgain_ExtendsTheLifetime()
    {
        var (table, time) = Table();
        table.Learn("example.org", "matrix.example.net");

        time.Advance(TimeSpan.FromMinutes(50));
        table.Learn("example.org", "matrix.example.net");
        time.Advance(TimeSpan.FromMinutes(50));

        Assert.Equal(["example.org"], table.ServerNamesFor("matrix.example.net"));
    }

    [Fact]
    public void Learn_ServerNameEqualToHost_IsIgnored()
    {
        var (table, _) = Table();

        table.Learn("example.org", "example.org");
        table.Learn("Example.ORG", "example.org");

        Assert.Empty(table.ServerNamesFor("example.org"));
    }

    [Fact]
    public void Learn_SeveralServerNamesForOneHost_ReportsAll()
    {
        var (table, _) = Table();

        table.Learn("a.example", "hosting.example");
        table.Learn("b.example", "hosting.example");
        table.Learn("c.example", "other.example");

        Assert.Equal(["a.example", "b.example"], table.ServerNamesFor("hosting.example").Order(StringComparer.Ordinal));
        Assert.Equal(["c.example"], table.ServerNamesFor("other.example"));
    }

    [Fact]
    public void ServerNamesFor_HostCaseDiffers_StillFindsTheDelegation()
    {
        var (table, _) = Table(configured: new() { ["configured.example"] = "Matrix.Example.NET" });
        table.Learn("learned.example", "matrix.example.net");

        Assert.Equal(["configured.example", "learned.example"], table.ServerNamesFor("MATRIX.example.net").Order(StringComparer.Ordinal));
    }

    [Fact]
    public void ServerNamesFor_ConfiguredDelegations_AreAlwaysReported()
    {
        var (table, time) = Table(configured: new() { ["a.example"] = "srv.example", ["b.example"] = "srv.example", ["c.example"] = "other.example" });

        time.Advance(TimeSpan.FromDays(365));

        Assert.Equal(["a.example", "b.example"], table.ServerNamesFor("srv.example").Order(StringComparer.Ordinal));
        Assert.Equal(["c.example"], table.ServerNamesFor("other.example"));
    }

    [Fact]
    public void ServerNamesFor_ConfiguredAndLearnedForOneHost_ReportsBothUntilTheLearnedExpires()
    {
        var (table, time) = Table(configured: new() { ["configured.example"] = "srv.example" });
        table.Learn("learned.example", "srv.example");

        Assert.Equal(["configured.example", "learned.example"], table.ServerNamesFor("srv.example").Order(StringComparer.Ordinal));

        time.Advance(s_lifetime);
        Assert.Equal(["configured.example"], table.ServerNamesFor("srv.example"));
    }

    private static (DelegationTable Table, ManualTimeProvider Time) Table(Dictionary<string, string>? configured = null)
    {
        var options = new OutboundOptions { DelegationLifetime = s_lifetime };
        foreach (var (serverName, host) in configured ?? [])
        {
            options.Delegations[serverName] = host;
        }

        var time = new ManualTimeProvider(s_start);
        return (new DelegationTable(Options.Create(options), time), time);
    }
}
