using MessengerProxy.Persistence.Federation;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Tests.TestKit;
using Microsoft.EntityFrameworkCore;

namespace MessengerProxy.Tests.Persistence;

public sealed class FederationListStoreTests
{
    private readonly PostgresFixture _postgres;

    public FederationListStoreTests(PostgresFixture postgres) => _postgres = postgres;

    internal static FederationDomain Domain(string name, bool insurance = false) =>
        new(name, "1-" + name, insurance) { Ik = insurance ? ["123456789"] : [] };

    [Fact]
    public async Task EmptyDatabase_HasNoList()
    {
        await using var db = await TestDatabase.CreateAsync(_postgres);
        Assert.Null(await db.Federation.GetLatestAsync(TestContext.Current.CancellationToken));
        Assert.Null(await db.Federation.GetLatestVersionAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Writes_CreateMonotonicVersions_AndOnlyTheLatestIsServed()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(_postgres);

        var v1 = await db.Federation.ReplaceAsync([Domain("a.example"), Domain("b.example"), Domain("c.example", insurance: true)], new("admin:replace"), ct);
        var v2 = await db.Federation.AddDomainAsync(Domain("d.example"), new("admin:add"), ct);
        var duplicate = await db.Federation.AddDomainAsync(Domain("a.example"), new("admin:add"), ct);
        var v3 = await db.Federation.RemoveDomainAsync("b.example", new("admin:remove"), ct);
        var missing = await db.Federation.RemoveDomainAsync("zzz.example", new("admin:remove"), ct);
        var v4 = await db.Federation.ReplaceAsync([Domain("a.example"), Domain("c.example"), Domain("e.example")], new("vzd:test", 77, "CN=Signer"), ct);

        Assert.Equal([1L, 2, 3, 4], [v1, v2.Version, v3.Version, v4]);
        Assert.Equal(FederationWriteStatus.AlreadyPresent, duplicate.Status);
        Assert.Equal(FederationWriteStatus.NotFound, missing.Status);

        var latest = await db.Federation.GetLatestAsync(ct);
        Assert.Equal(4, latest!.Version);
        Assert.Equal(["a.example", "c.example", "e.example"], latest.Domains.Select(d => d.Domain));
        Assert.False(latest.Domains.Single(d => d.Domain == "c.example").IsInsurance);
        var info = await db.Federation.GetLatestVersionAsync(ct);
        Assert.Equal((3, "vzd:test", 77L, "CN=Signer"), (info!.DomainCount, info.Source, info.SourceVersion!.Value, info.Signer));
        Assert.Equal(77, await db.Federation.GetLastSourceVersionAsync(ct));

        // Only the changes were written: a.example kept its row through versions 1-4.
        await using var context = await db.Contexts.CreateDbContextAsync(ct);
        var aRows = await context.FederationDomains.Where(d => d.Domain == "a.example").ToListAsync(ct);
        Assert.Equal((1L, (long?)null), (aRows.Single().AddedInVersion, aRows.Single().RemovedInVersion));
        var cRows = await context.FederationDomains.Where(d => d.Domain == "c.example").OrderBy(d => d.Id).ToListAsync(ct);
        Assert.Equal([(1L, (long?)4L), (4L, (long?)null)], cRows.Select(r => (r.AddedInVersion, r.RemovedInVersion)));
    }

    [Fact]
    public async Task ConcurrentWriters_NeverShareAVersion_AndNoWriteIsLost()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(_postgres);
        await db.Federation.ReplaceAsync([Domain("base.example")], new("admin:replace"), ct);

        var adds = Enumerable.Range(0, 24).Select(i => Task.Run(() => db.Federation.AddDomainAsync(Domain($"host{i}.example"), new("admin:add"), ct), ct));
        var replaces = Enumerable.Range(0, 4).Select(i => Task.Run(async () => (await db.Federation.ReplaceAsync([Domain("base.example"), Domain($"replace{i}.example")], new("admin:replace"), ct), FederationWriteStatus.Created), ct));
        var results = await Task.WhenAll(adds.Select(async t => ((await t).Version, (await t).Status)).Concat(replaces));

        var versions = results.Select(r => r.Item1).ToList();
        Assert.Equal(versions.Count, versions.Distinct().Count());
        Assert.Equal(Enumerable.Range(2, 28).Select(v => (long)v), versions.Order());

        await using var context = await db.Contexts.CreateDbContextAsync(ct);
        Assert.Equal(29, await context.FederationListVersions.CountAsync(ct));
        var latest = await db.Federation.GetLatestAsync(ct);
        Assert.Equal(29, latest!.Version);
        Assert.Equal(latest.Domains.Count, (await db.Federation.GetLatestVersionAsync(ct))!.DomainCount);
    }

    [Fact]
    public async Task RemovingTheLastDomain_IsRefusedUnlessAllowed_EvenWhenTwoRemovalsRace()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(_postgres);
        await db.Federation.ReplaceAsync([Domain("a.example"), Domain("b.example")], new("admin:replace"), ct);

        // Each removal alone leaves one domain; together they would leave none. The writer lock orders them,
        // so the second sees the count the first left.
        var results = await Task.WhenAll(
            Task.Run(() => db.Federation.RemoveDomainAsync("a.example", new("admin:remove"), allowEmpty: false, ct), ct),
            Task.Run(() => db.Federation.RemoveDomainAsync("b.example", new("admin:remove"), allowEmpty: false, ct), ct));

        Assert.Equal([FederationWriteStatus.Created, FederationWriteStatus.WouldLeaveListEmpty], results.Select(r => r.Status).Order());
        Assert.Equal(2, results.Single(r => r.Status == FederationWriteStatus.WouldLeaveListEmpty).Version);
        var latest = await db.Federation.GetLatestAsync(ct);
        Assert.Equal((2L, 1), (latest!.Version, latest.Domains.Count));

        var last = await db.Federation.RemoveDomainAsync(latest.Domains[0].Domain, new("admin:remove"), allowEmpty: true, ct);
        Assert.Equal((FederationWriteStatus.Created, 3L), (last.Status, last.Version));
        Assert.Equal(0, (await db.Federation.GetLatestVersionAsync(ct))!.DomainCount);
    }

    [Fact]
    public async Task Readers_SeeWholeVersionsOnly_WhileALargeListIsReplaced()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(_postgres);
        var small = Enumerable.Range(0, 10).Select(i => Domain($"s{i}.example")).ToList();
        var large = Enumerable.Range(0, 20_000).Select(i => Domain($"l{i}.example")).ToList();
        await db.Federation.ReplaceAsync(small, new("admin:replace"), ct);

        using var stop = new CancellationTokenSource();
        var observed = new List<(long Version, int Count)>();
        var reader = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var snapshot = await db.Federation.GetLatestAsync(ct);
                observed.Add((snapshot!.Version, snapshot.Domains.Count));
            }
        }, ct);

        await db.Federation.ReplaceAsync(large, new("admin:replace"), ct);
        await db.Federation.ReplaceAsync(small, new("admin:replace"), ct);
        await Task.Delay(50, ct);
        await stop.CancelAsync();
        await reader;

        Assert.NotEmpty(observed);
        Assert.All(observed, o => Assert.Equal(o.Version == 2 ? 20_000 : 10, o.Count));
    }

    [Fact]
    public async Task Support_PutReplacesDeleteRemoves()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(_postgres);
        var first = new MessengerProxy.Persistence.Support.SupportInformation("example.org", "https://example.org/help",
            [new("m.role.admin", "admin@example.org", "@admin:example.org"), new("m.role.security", "sec@example.org", null)]);

        Assert.True(await db.Support.PutAsync(first, ct));
        Assert.False(await db.Support.PutAsync(first with { SupportPage = null, Contacts = [new("m.role.admin", null, "@ops:example.org")] }, ct));
        var stored = await db.Support.GetAsync("example.org", ct);

        Assert.Null(stored!.SupportPage);
        Assert.Equal([new("m.role.admin", null, "@ops:example.org")], stored.Contacts);
        Assert.True(await db.Support.DeleteAsync("example.org", ct));
        Assert.False(await db.Support.DeleteAsync("example.org", ct));
        Assert.Null(await db.Support.GetAsync("example.org", ct));
    }
}
