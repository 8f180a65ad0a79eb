using System.Text.Json;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// Real Synapse homeservers federating through the messenger proxies, driven by matrix-nio (and mp-lb for the
/// front door). Assertions look at what Synapse itself stored or answered (its admin API, or the other
/// server's client API), not only at what the client saw. Run alone with
/// <c>./test.sh -- --filter-namespace "*EndToEnd*"</c>.
/// </summary>
[TestCaseOrderer(typeof(StepOrderer))]
public sealed class RealHomeserverTests(FederationFixture fixture) : IClassFixture<FederationFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact, Step(1)]
    public async Task Versions_AreSynapsesOwn_FilteredToV111_WithTheFrontDoorAdvertised()
    {
        fixture.SkipUnlessRunning();

        var throughProxy = await fixture.RunClientAsync("versions", new { homeserver = fixture.Hs1.ClientUrl, ca = fixture.ChrootCaPath });
        var direct = JsonDocument.Parse(await fixture.Hs1.Synapse.Direct.GetStringAsync("/_matrix/client/versions", Ct)).RootElement;

        Assert.Equal(200, throughProxy.GetProperty("status").GetInt32());
        var body = throughProxy.GetProperty("body");
        var filtered = body.GetProperty("versions").EnumerateArray().Select(v => v.GetString()!).ToList();
        var synapses = direct.GetProperty("versions").EnumerateArray().Select(v => v.GetString()!).ToList();
        Assert.Contains("v1.11", filtered);
        // Synapse speaks later versions; the proxy passes exactly those up to v1.11, in Synapse's order.
        Assert.Contains(synapses, IsAfterV111);
        Assert.Equal(synapses.Where(v => !IsAfterV111(v)).ToList(), filtered);
        Assert.Empty(body.GetProperty("unstable_features").EnumerateObject());
        Assert.NotEmpty(direct.GetProperty("unstable_features").EnumerateObject());
        // hs1's proxy runs the front door and says so; hs2's does not.
        Assert.Equal(fixture.Hs1.DtlsPort, body.GetProperty("org.matrix.msc3079.low_bandwidth").GetProperty("dtls").GetInt32());
        var hs2 = await fixture.RunClientAsync("versions", new { homeserver = fixture.Hs2.ClientUrl, ca = fixture.ChrootCaPath });
        Assert.False(hs2.GetProperty("body").TryGetProperty("org.matrix.msc3079.low_bandwidth", out _));
    }

    [Fact, Step(2)]
    public async Task RegisterLoginWhoami_RegistrationClosedAsConfigured_LoginMakesADeviceSynapseKnows()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");

        var result = await fixture.RunClientAsync("login_whoami", new
        {
            ca = fixture.ChrootCaPath,
            user = FederationFixture.Client(alice),
            new_username = "walk-in-" + Guid.NewGuid().ToString("N")[..6],
        });

        // homeserver.yaml closes registration; the answer is Synapse's, passed through.
        var register = result.GetProperty("register");
        Assert.False(register.GetProperty("succeeded").GetBoolean());
        Assert.Equal("M_FORBIDDEN", register.GetProperty("errcode").GetString());
        Assert.Equal(403, register.GetProperty("status").GetInt32());
        Assert.Equal(alice.UserId, result.GetProperty("login").GetProperty("user_id").GetString());
        var device = result.GetProperty("login").GetProperty("device_id").GetString()!;
        Assert.Equal(alice.UserId, result.GetProperty("whoami").GetProperty("user_id").GetString());
        Assert.Equal(device, result.GetProperty("whoami").GetProperty("device_id").GetString());

        var devices = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v2/users/{Uri.EscapeDataString(alice.UserId)}/devices", Ct);
        Assert.Contains(devices.GetProperty("devices").EnumerateArray(), d => d.GetProperty("device_id").GetString() == device
            && d.GetProperty("display_name").GetString() == "e2e-login");
    }

    [Fact, Step(3)]
    public async Task CreateRoomSendSync_SynapseStoredTheMessage()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var body = "local " + Guid.NewGuid();

        var result = await fixture.RunClientAsync("create_send_sync", new { ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), body });

        var roomId = result.GetProperty("room_id").GetString()!;
        Assert.Equal(result.GetProperty("event_id").GetString(), result.GetProperty("seen").GetProperty("event_id").GetString());
        var stored = await MessagesAsync(fixture.Hs1, roomId);
        Assert.Contains(stored, e => e.Body == body && e.Sender == alice.UserId && e.EventId == result.GetProperty("event_id").GetString());
    }

    [Fact, Step(4)]
    public async Task InviteOverFederation_JoinAndMessagesBothWays()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var fromBob = "hello from hs2 " + Guid.NewGuid();
        var fromAlice = "hello from hs1 " + Guid.NewGuid();

        var result = await fixture.RunClientAsync("federated_conversation", new
        {
            ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob), from_bob = fromBob, from_alice = fromAlice,
        });

        var roomId = result.GetProperty("room_id").GetString()!;
        Assert.Equal(bob.UserId, result.GetProperty("alice_saw").GetProperty("sender").GetString());
        Assert.Equal(alice.UserId, result.GetProperty("bob_saw").GetProperty("sender").GetString());
        foreach (var node in new[] { fixture.Hs1, fixture.Hs2 })
        {
            var members = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/members", Ct);
            Assert.Contains(alice.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
            Assert.Contains(bob.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
            var stored = await MessagesAsync(node, roomId);
            Assert.Contains(stored, e => e.Body == fromBob && e.Sender == bob.UserId);
            Assert.Contains(stored, e => e.Body == fromAlice && e.Sender == alice.UserId);
        }
    }

    [Fact, Step(50)]
    public async Task HappyPaths_NoProxyRefusedOrFailedAnything()
    {
        fixture.SkipUnlessRunning();

        var undelivered = await fixture.NewUndeliveredAsync();

        Assert.True(undelivered.Count == 0, "every refusal in a happy path breaks real users:\n" + string.Join('\n', undelivered) + "\n" + fixture.Diagnostics());
    }

    private static bool IsAfterV111(string version)
    {
        if (!version.StartsWith("v1.", StringComparison.Ordinal) || !int.TryParse(version[3..], out var minor))
        {
            return false;
        }

        return minor > 11;
    }

    private sealed record StoredMessage(string EventId, string Sender, string? Body);

    private static async Task<List<StoredMessage>> MessagesAsync(HomeserverNode node, string roomId)
    {
        var page = await node.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=100", Ct);
        return page.GetProperty("chunk").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "m.room.message")
            .Select(e => new StoredMessage(
                e.GetProperty("event_id").GetString()!, e.GetProperty("sender").GetString()!,
                e.GetProperty("content").TryGetProperty("body", out var b) ? b.GetString() : null))
            .ToList();
    }
}
