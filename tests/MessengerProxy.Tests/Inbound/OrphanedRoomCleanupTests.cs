using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// The orphaned-room cleanup (A_28564-01) against a stand-in admin API with small pages: all pages listed before the
/// first deletion, only rooms whose every event is a state event, whose newest event is older than the threshold and
/// where nobody but the creator is joined are deleted, asynchronously and polled; dry runs only count; runs never
/// overlap. Triggered through the health port's <c>POST /actuator/orphaned-rooms</c>.
/// </summary>
public sealed class OrphanedRoomCleanupTests
{
    private static readonly DateTimeOffset s_now = new(2026, 12, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Run_OverPaginatedRooms_DeletesOnlyOrphans_AfterListingEveryPage()
    {
        await using var homeserver = await StandInAsync();
        await using var proxy = await StartAsync(homeserver);

        var (status, report) = await TriggerAsync(proxy);

        Assert.Equal(200, status);
        Assert.Equal(6, report.GetProperty("examined").GetInt32());
        Assert.Equal(2, report.GetProperty("deleted").GetInt32());
        Assert.Equal(0, report.GetProperty("failed").GetInt32());
        Assert.Equal(["!creatorleft:hs.example", "!orphan15:hs.example"], homeserver.Deleted.Order().ToArray());
        var requests = homeserver.Upstream.Requests.ToList();
        var lastList = requests.FindLastIndex(r => r.RawTarget.StartsWith("/_synapse/admin/v1/rooms?", StringComparison.Ordinal));
        var firstDelete = requests.FindIndex(r => r.Method == "DELETE");
        Assert.True(lastList < firstDelete, "every page of the room list is read before the first deletion");
        Assert.Equal(3, requests.Count(r => r.RawTarget.StartsWith("/_synapse/admin/v1/rooms?", StringComparison.Ordinal)));
        var delete = requests.First(r => r.Method == "DELETE");
        Assert.Equal("/_synapse/admin/v2/rooms/%21orphan15%3Ahs.example", delete.RawTarget);
        using (var body = JsonDocument.Parse(delete.Body))
        {
            Assert.True(body.RootElement.GetProperty("purge").GetBoolean());
            Assert.False(body.RootElement.GetProperty("block").GetBoolean());
        }

        // The old message sits behind 60 state events: a second page of the timeline was read to find it.
        Assert.Equal(2, requests.Count(r => r.RawTarget.StartsWith("/_synapse/admin/v1/rooms/%21oldmessage%3Ahs.example/messages", StringComparison.Ordinal)));
        var metrics = (await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
        Assert.Contains("messengerproxy_tim_orphaned_rooms_examined_total 6", metrics);
        Assert.Contains("messengerproxy_tim_orphaned_rooms_deleted_total 2", metrics);
    }

    [Fact]
    public async Task Deletion_IsPolledUntilComplete()
    {
        await using var homeserver = await StandInAsync();
        homeserver.ActivePolls = 2;
        await using var proxy = await StartAsync(homeserver);

        var (status, report) = await TriggerAsync(proxy);

        Assert.Equal(200, status);
        Assert.Equal(2, report.GetProperty("deleted").GetInt32());
        Assert.Equal(3, homeserver.Count("/_synapse/admin/v2/rooms/delete_status/del-orphan15"));
    }

    [Fact]
    public async Task DryRun_OnlyCounts()
    {
        await using var homeserver = await StandInAsync();
        await using var proxy = await StartAsync(homeserver, "Tim:OrphanedRooms:DryRun=true");

        var (status, report) = await TriggerAsync(proxy);

        Assert.Equal(200, status);
        Assert.Equal(2, report.GetProperty("orphaned").GetInt32());
        Assert.Equal(0, report.GetProperty("deleted").GetInt32());
        Assert.True(report.GetProperty("dryRun").GetBoolean());
        Assert.Empty(homeserver.Deleted);
    }

    [Fact]
    public async Task Runs_NeverOverlap()
    {
        await using var homeserver = await StandInAsync();
        homeserver.ListDelay = TimeSpan.FromMilliseconds(300);
        await using var proxy = await StartAsync(homeserver);

        var results = await Task.WhenAll(TriggerAsync(proxy), TriggerAsync(proxy));

        Assert.Equal([200, 409], results.Select(r => r.Status).Order().ToArray());
        Assert.Equal(2, homeserver.Deleted.Count);
    }

    [Fact]
    public async Task WithoutAdminCredentials_TheTriggerIs503_AndOnlyPostRuns()
    {
        await using var homeserver = await StandInAsync();
        await using var proxy = await ProxyHost.StartAsync(homeserver.Url);

        var post = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("POST", "/actuator/orphaned-rooms", body: ""));
        var get = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("GET", "/actuator/orphaned-rooms"));
        var publicPort = await RawHttp.SendAsync(proxy.InboundPort, RawHttp.Request("POST", "/actuator/orphaned-rooms", body: ""));

        RejectionTests.AssertMatrixError(post, 503, "M_UNKNOWN");
        Assert.Equal(405, get.StatusCode);
        Assert.Equal(404, publicPort.StatusCode);
        Assert.DoesNotContain(homeserver.Upstream.Requests, r => r.RawTarget.StartsWith("/_synapse/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ARoomThatCannotBeRead_CountsAsFailed_TheOthersAreHandled()
    {
        await using var homeserver = await StandInAsync();
        var c = TimHomeserver.User("creator");
        homeserver.Rooms.Insert(0, new("!badts:hs.example", c, [c], [new StandInEvent("m.room.create", true, s_now - TimeSpan.FromDays(30), TimestampAsString: true)]));
        await using var proxy = await StartAsync(homeserver);

        var (status, report) = await TriggerAsync(proxy);

        Assert.Equal(200, status);
        Assert.Equal(1, report.GetProperty("failed").GetInt32());
        Assert.Equal(2, report.GetProperty("deleted").GetInt32());
        Assert.DoesNotContain("!badts:hs.example", homeserver.Deleted);
    }

    [Fact]
    public async Task ListingFails_TheRunFails_NothingDeleted()
    {
        await using var homeserver = await StandInAsync();
        await using var proxy = await StartAsync(homeserver, "Tim:Admin:Password=wrong");

        var (status, _) = await TriggerAsync(proxy);

        Assert.Equal(502, status);
        Assert.Empty(homeserver.Deleted);
    }

    private static async Task<TimHomeserver> StandInAsync()
    {
        var homeserver = await TimHomeserver.StartAsync();
        static List<StandInEvent> States(int count, TimeSpan ago) =>
            [.. Enumerable.Range(0, count).Select(i => new StandInEvent("m.room.topic", true, s_now - ago - TimeSpan.FromMinutes(count - i)))];
        var c = TimHomeserver.User("creator");
        homeserver.Rooms.AddRange(
        [
            new("!orphan15:hs.example", c, [c], States(5, TimeSpan.FromDays(15))),
            new("!oldmessage:hs.example", c, [c],
                [.. States(2, TimeSpan.FromDays(21)), new StandInEvent("m.room.message", false, s_now - TimeSpan.FromDays(20)), .. States(60, TimeSpan.FromDays(15))]),
            new("!young13:hs.example", c, [c], States(5, TimeSpan.FromDays(13))),
            new("!twojoined:hs.example", c, [c, TimHomeserver.User("friend")], States(5, TimeSpan.FromDays(30))),
            new("!otherjoined:hs.example", c, [TimHomeserver.User("friend")], States(5, TimeSpan.FromDays(30))),
            new("!creatorleft:hs.example", c, [], States(5, TimeSpan.FromDays(20))),
        ]);
        return homeserver;
    }

    private static Task<ProxyHost> StartAsync(TimHomeserver homeserver, params string[] extra)
    {
        var clock = new ManualTimeProvider(s_now);
        return ProxyHost.StartAsync(homeserver.Url, b => b.Services.AddSingleton<TimeProvider>(clock),
        [
            $"Tim:Admin:User={TimHomeserver.AdminUser}",
            $"Tim:Admin:Password={TimHomeserver.AdminPassword}",
            // Only the trigger runs the job in these tests.
            "Tim:OrphanedRooms:FirstRunDelay=1.00:00:00",
            "Tim:OrphanedRooms:StatusPollInterval=00:00:00.020",
            .. extra,
        ]);
    }

    private static async Task<(int Status, JsonElement Report)> TriggerAsync(ProxyHost proxy)
    {
        var response = await RawHttp.SendAsync(proxy.HealthPort, RawHttp.Request("POST", "/actuator/orphaned-rooms", body: ""));
        return (response.StatusCode, JsonDocument.Parse(response.Body).RootElement.Clone());
    }
}
