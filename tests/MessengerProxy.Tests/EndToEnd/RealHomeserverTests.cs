using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidthCli;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// Real Synapse homeservers federating through the messenger proxies, driven by matrix-nio (and mp-lb for the
/// front door). Assertions look at what Synapse itself stored or answered (its admin API, or the other
/// server's client API), not only at what the client saw. Run alone with
/// <c>./test.sh -- --filter-namespace "*EndToEnd*"</c>.
/// </summary>
[TestMethodOrderer(typeof(StepOrderer))]
public sealed partial class RealHomeserverTests(FederationFixture fixture) : IClassFixture<FederationFixture>
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
            var members = await node.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/members", Ct);
            Assert.Contains(alice.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
            Assert.Contains(bob.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
            var stored = await MessagesAsync(node, roomId);
            Assert.Contains(stored, e => e.Body == fromBob && e.Sender == bob.UserId);
            Assert.Contains(stored, e => e.Body == fromAlice && e.Sender == alice.UserId);
        }
    }

    [Fact, Step(5)]
    public async Task ProfileAndAlias_AcrossServers()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var displayName = "Alice " + Guid.NewGuid().ToString("N")[..6];
        var alias = $"#e2e-{Guid.NewGuid().ToString("N")[..8]}:{fixture.Hs1.ServerName}";

        var result = await fixture.RunClientAsync("profile_and_alias", new
        {
            ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob), displayname = displayName, alias,
        });

        var roomId = result.GetProperty("room_id").GetString()!;
        Assert.Equal(displayName, result.GetProperty("profile").GetProperty("displayname").GetString());
        Assert.Equal(roomId, result.GetProperty("resolved").GetProperty("room_id").GetString());
        Assert.Contains(fixture.Hs1.ServerName, result.GetProperty("resolved").GetProperty("servers").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(roomId, result.GetProperty("joined").GetString());
        // hs2 has the room now, with bob joined through the alias, and knows alice's name from hs1.
        var members = await fixture.Hs2.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/members", Ct);
        Assert.Contains(bob.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
        var state = await fixture.Hs2.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/state", Ct);
        Assert.Contains(state.GetProperty("state").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.member"
            && e.GetProperty("state_key").GetString() == alice.UserId && e.GetProperty("content").GetProperty("displayname").GetString() == displayName);
    }

    [Fact, Step(6)]
    public async Task Media_UploadedOnOneServer_DownloadedThroughTheOtherOverFederation()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var content = "media across servers " + Guid.NewGuid() + new string('x', 20_000);

        var result = await fixture.RunClientAsync("media", new { ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob), content });

        Assert.Equal(result.GetProperty("uploaded_sha256").GetString(), result.GetProperty("downloaded_sha256").GetString());
        var uri = new Uri(result.GetProperty("content_uri").GetString()!);
        Assert.Equal(fixture.Hs1.ServerName, uri.Authority);
        var mediaId = uri.AbsolutePath.Trim('/');
        var sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(content)));
        var local = (await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/media/{Uri.EscapeDataString(fixture.Hs1.ServerName)}/{mediaId}", Ct)).GetProperty("media_info");
        Assert.Equal(alice.UserId, local.GetProperty("user_id").GetString());
        Assert.Equal(sha256, local.GetProperty("sha256").GetString());
        // hs2 fetched it from hs1 over federation (authenticated media) and keeps a copy.
        var cached = (await fixture.Hs2.Synapse.AdminGetAsync($"/_synapse/admin/v1/media/{Uri.EscapeDataString(fixture.Hs1.ServerName)}/{mediaId}", Ct)).GetProperty("media_info");
        Assert.Equal(fixture.Hs1.ServerName, cached.GetProperty("media_origin").GetString());
        Assert.Equal(Encoding.UTF8.GetByteCount(content), cached.GetProperty("media_length").GetInt64());
        Assert.True(cached.GetProperty("authenticated").GetBoolean());
    }

    [Fact, Step(7)]
    public async Task TypingAndReadReceipts_ReachTheOtherServer()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");

        var result = await fixture.RunClientAsync("typing_and_receipts", new
        {
            ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob), body = "read me " + Guid.NewGuid(),
        });

        Assert.Contains(alice.UserId, result.GetProperty("typing_users").EnumerateArray().Select(u => u.GetString()));
        var receipt = result.GetProperty("receipt");
        Assert.Equal(bob.UserId, receipt.GetProperty("user_id").GetString());
        Assert.Equal(result.GetProperty("event_id").GetString(), receipt.GetProperty("event_id").GetString());
        Assert.Equal("m.read", receipt.GetProperty("receipt_type").GetString());
    }

    [Fact, Step(8)]
    public async Task EndToEndEncryption_KeysQueryClaimAndToDeviceAcrossServers()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var body = "secret " + Guid.NewGuid();

        var result = await fixture.RunClientAsync("end_to_end_encryption", new
        {
            ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob), body,
        });

        // bob's client got alice's device keys from hs2, which asked hs1: they are the keys hs1 holds.
        var ed25519 = result.GetProperty("alice_ed25519").GetString();
        Assert.Equal(ed25519, result.GetProperty("queried_devices").GetProperty(alice.DeviceId).GetProperty("ed25519").GetString());
        using var query = await fixture.Hs1.Synapse.AdminAsync(HttpMethod.Post, "/_matrix/client/v3/keys/query",
            new { device_keys = new Dictionary<string, string[]> { [alice.UserId] = [] } }, Ct);
        var held = JsonDocument.Parse(await query.Content.ReadAsStringAsync(Ct)).RootElement;
        Assert.Equal(ed25519, held.GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId).GetProperty("keys")
            .GetProperty($"ed25519:{alice.DeviceId}").GetString());
        // The claim took one of alice's one-time keys on hs1.
        Assert.Equal([alice.DeviceId], result.GetProperty("claimed_devices").EnumerateArray().Select(d => d.GetString()).ToArray());
        Assert.Equal(result.GetProperty("alice_otk_before").GetInt32() - 1, result.GetProperty("alice_otk_after").GetInt32());
        // The Megolm key went over to-device, so alice could decrypt; hs1 stored only ciphertext.
        Assert.Equal(body, result.GetProperty("decrypted").GetProperty("body").GetString());
        var roomId = result.GetProperty("room_id").GetString()!;
        var page = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=50", Ct);
        Assert.Contains(page.GetProperty("chunk").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.encrypted" && e.GetProperty("sender").GetString() == bob.UserId);
        Assert.DoesNotContain(body, page.GetRawText(), StringComparison.Ordinal);
    }

    [Fact, Step(9)]
    public async Task FrontDoor_LoginAndSendOverDtls_TheOtherServerReceives()
    {
        fixture.SkipUnlessRunning();
        var dora = await fixture.UserAsync(fixture.Hs1, "dora");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var room = await fixture.RunClientAsync("prepare_room", new { ca = fixture.ChrootCaPath, owner = FederationFixture.Client(dora), guest = FederationFixture.Client(bob) });
        var roomId = room.GetProperty("room_id").GetString()!;
        var door = $"coaps://127.0.0.1:{fixture.Hs1.DtlsPort}";

        var login = await MpLbAsync("post", $"{door}/_matrix/client/v3/login", "--data",
            JsonSerializer.Serialize(new { type = "m.login.password", identifier = new { type = "m.id.user", user = dora.Localpart }, password = dora.Password, initial_device_display_name = "phone" }));
        var token = login.GetProperty("access_token").GetString()!;
        var device = login.GetProperty("device_id").GetString()!;
        var body = "over CoAP " + Guid.NewGuid();
        var sent = await MpLbAsync("put", $"{door}/_matrix/client/v3/rooms/{roomId}/send/m.room.message/lb-{Guid.NewGuid():N}", "--token", token, "--integer-keys",
            "--data", JsonSerializer.Serialize(new { msgtype = "m.text", body }));

        var received = await fixture.RunClientAsync("wait_for_text", new { ca = fixture.ChrootCaPath, user = FederationFixture.Client(bob), room_id = roomId, body });
        Assert.Equal(dora.UserId, received.GetProperty("sender").GetString());
        Assert.Equal(sent.GetProperty("event_id").GetString(), received.GetProperty("event_id").GetString());
        var devices = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v2/users/{Uri.EscapeDataString(dora.UserId)}/devices", Ct);
        Assert.Contains(devices.GetProperty("devices").EnumerateArray(), d => d.GetProperty("device_id").GetString() == device && d.GetProperty("display_name").GetString() == "phone");
        Assert.Contains(await MessagesAsync(fixture.Hs2, roomId), m => m.Body == body && m.Sender == dora.UserId);
    }

    [Fact, Step(50)]
    public async Task HappyPaths_NoProxyRefusedOrFailedAnything()
    {
        fixture.SkipUnlessRunning();

        var undelivered = await fixture.NewUndeliveredAsync();

        Assert.True(undelivered.Count == 0, "every refusal in a happy path breaks real users:\n" + string.Join('\n', undelivered) + "\n" + fixture.Diagnostics());
    }

    [Fact, Step(60)]
    public async Task UnlistedServer_RefusedInEveryDirection_WithAnErrorTheUserCanRead()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var carol = await fixture.UserAsync(fixture.Hs3, "carol");
        var alias = $"#open-{Guid.NewGuid().ToString("N")[..8]}:{fixture.Hs1.ServerName}";
        var hs3Before = await ProxyMetrics.ScrapeAsync(fixture.Hs3.HealthPort, Ct);

        var result = await fixture.RunClientAsync("unlisted", new { ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), carol = FederationFixture.Client(carol), alias });

        // Alice's own proxy refuses what names hs3, before Synapse: the message names the server.
        foreach (var step in new[] { "alice_invites_carol", "alice_creates_room_inviting_carol", "alice_reads_carols_profile" })
        {
            var refusal = result.GetProperty(step);
            Assert.True(refusal.GetProperty("status").GetInt32() == 403, $"{step}: {refusal}");
            Assert.Equal("M_FORBIDDEN", refusal.GetProperty("errcode").GetString());
            Assert.Equal($"{fixture.Hs3.Host} is not part of the federation", refusal.GetProperty("error").GetString());
        }

        // Carol's requests pass her proxy (hs1 is listed) and her Synapse; hs1's proxy refuses Synapse 3's
        // federation requests (X-Matrix origin not listed). Synapse relays that refusal for a profile, and
        // answers alias look-ups (and joins through them) with its own 502: never a room, alias or profile.
        var profile = result.GetProperty("carol_reads_alices_profile");
        Assert.True(profile.GetProperty("status").GetInt32() == 403, profile.ToString());
        Assert.Equal("M_FORBIDDEN", profile.GetProperty("errcode").GetString());
        Assert.Equal($"{fixture.Hs3.Host} is not part of the federation", profile.GetProperty("error").GetString());
        foreach (var step in new[] { "carol_resolves_alias", "carol_joins_by_alias" })
        {
            var failure = result.GetProperty(step);
            Assert.True(failure.GetProperty("status").GetInt32() == 502, $"{step}: {failure}");
            Assert.Equal("Failed to fetch alias", failure.GetProperty("error").GetString());
        }

        // A request that reaches Synapse without the inbound proxy (an internal client, an application service):
        // Synapse's own federation traffic to hs3 gets a TLS tunnel from its outbound proxy, inside which every
        // request is answered 403 (never resolved, never connected), and Synapse relays that to the user.
        var roomId = result.GetProperty("room_id").GetString()!;
        var hs1OutboundBefore = ProxyMetrics.Sum(await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct), "messengerproxy_outbound_tunnels_total", "outcome=\"refused_inside\"");
        using var invite = new HttpRequestMessage(HttpMethod.Post, $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/invite")
        {
            Content = Json(new { user_id = carol.UserId }),
        };
        invite.Headers.Authorization = new("Bearer", alice.AccessToken);
        using var direct = await fixture.Hs1.Synapse.Direct.SendAsync(invite, Ct);
        var directBody = await direct.Content.ReadAsStringAsync(Ct);
        // What the inviting user sees: the outbound proxy's refusal, readable, instead of "Can't connect to server".
        Assert.True((int)direct.StatusCode == 403, directBody);
        using var directError = JsonDocument.Parse(directBody);
        Assert.Equal("M_FORBIDDEN", directError.RootElement.GetProperty("errcode").GetString());
        Assert.Equal($"{fixture.Hs3.Host} is not part of the federation", directError.RootElement.GetProperty("error").GetString());
        var hs1OutboundAfter = ProxyMetrics.Sum(await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct), "messengerproxy_outbound_tunnels_total", "outcome=\"refused_inside\"");
        Assert.True(hs1OutboundAfter > hs1OutboundBefore, "hs1's outbound proxy should have answered the tunnel to hs3 with its refusal");

        // Nothing got through either way: hs3's proxy passed no federation request from anyone to Synapse 3,
        // Synapse 3 has no trace of the room or alias, and hs1's room never had carol.
        var hs3After = await ProxyMetrics.ScrapeAsync(fixture.Hs3.HealthPort, Ct);
        Assert.Equal(
            ProxyMetrics.Sum(hs3Before, "messengerproxy_inbound_requests_total", "family=\"federation\"", "outcome=\"forwarded\""),
            ProxyMetrics.Sum(hs3After, "messengerproxy_inbound_requests_total", "family=\"federation\"", "outcome=\"forwarded\""));
        var hs3Rooms = await fixture.Hs3.Synapse.AdminGetAsync("/_synapse/admin/v1/rooms?limit=500", Ct);
        Assert.DoesNotContain(roomId, hs3Rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()));
        var members = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/members", Ct);
        Assert.DoesNotContain(carol.UserId, members.GetProperty("members").EnumerateArray().Select(m => m.GetString()));
        var state = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/state", Ct);
        Assert.DoesNotContain(state.GetProperty("state").EnumerateArray(), e => e.GetProperty("state_key").GetString() == carol.UserId);
    }

    [Fact, Step(61)]
    public async Task PostV111Endpoint_RefusedWithMUnrecognized_WhileSynapseWouldServeIt()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var mallory = await fixture.UserAsync(fixture.Hs1, "mallory");
        var reason = "e2e report " + Guid.NewGuid();
        // v1.14's user report endpoint: Synapse implements it, the proxy serves v1.11.
        var path = $"/_matrix/client/v3/users/{Uri.EscapeDataString(mallory.UserId)}/report";

        var throughProxy = await fixture.RunClientAsync("raw_request", new { ca = fixture.ChrootCaPath, user = FederationFixture.Client(alice), method = "POST", path, body = new { reason } });

        Assert.Equal(404, throughProxy.GetProperty("status").GetInt32());
        Assert.Equal("M_UNRECOGNIZED", throughProxy.GetProperty("body").GetProperty("errcode").GetString());
        Assert.DoesNotContain(reason, (await fixture.Hs1.Synapse.AdminGetAsync("/_synapse/admin/v1/user_reports", Ct)).GetRawText(), StringComparison.Ordinal);

        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = Json(new { reason }) };
        request.Headers.Authorization = new("Bearer", alice.AccessToken);
        using var direct = await fixture.Hs1.Synapse.Direct.SendAsync(request, Ct);
        Assert.True(direct.IsSuccessStatusCode, await direct.Content.ReadAsStringAsync(Ct));
        Assert.Contains(reason, (await fixture.Hs1.Synapse.AdminGetAsync("/_synapse/admin/v1/user_reports", Ct)).GetRawText(), StringComparison.Ordinal);
    }

    [Fact, Step(62)]
    public async Task TimRoomRules_AsSynapseStoresThem()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var before = await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct);

        // A public room without a room version: the proxy adds the default and m.federate=false, keeping the rest.
        var publicRoom = await RawAsync(alice, "POST", "/_matrix/client/v3/createRoom",
            new { preset = "public_chat", creation_content = new Dictionary<string, object> { ["org.example.kept"] = "yes" } });
        var publicCreate = await StoredCreateContentAsync(fixture.Hs1, publicRoom.GetProperty("room_id").GetString()!);
        Assert.Equal("10", publicCreate.GetProperty("room_version").GetString());
        Assert.False(publicCreate.GetProperty("m.federate").GetBoolean());
        Assert.Equal("yes", publicCreate.GetProperty("org.example.kept").GetString());

        // A private room federates; an allowed version the client names is kept.
        var privateRoom = await RawAsync(alice, "POST", "/_matrix/client/v3/createRoom", new { preset = "private_chat", room_version = "9" });
        var privateRoomId = privateRoom.GetProperty("room_id").GetString()!;
        var privateCreate = await StoredCreateContentAsync(fixture.Hs1, privateRoomId);
        Assert.Equal("9", privateCreate.GetProperty("room_version").GetString());
        Assert.False(privateCreate.TryGetProperty("m.federate", out var federate) && federate.ValueKind == JsonValueKind.False);

        // A version outside the allowed set never reaches Synapse, which would create the room.
        var roomsBefore = (await fixture.Hs1.Synapse.AdminGetAsync("/_synapse/admin/v1/rooms?limit=1", Ct)).GetProperty("total_rooms").GetInt32();
        var v11 = await fixture.RunClientAsync("raw_request", new
        {
            ca = fixture.ChrootCaPath, user = FederationFixture.Client(alice), method = "POST", path = "/_matrix/client/v3/createRoom", body = new { room_version = "11" },
        });
        Assert.Equal(400, v11.GetProperty("status").GetInt32());
        Assert.Equal("M_UNSUPPORTED_ROOM_VERSION", v11.GetProperty("body").GetProperty("errcode").GetString());
        Assert.Equal(roomsBefore, (await fixture.Hs1.Synapse.AdminGetAsync("/_synapse/admin/v1/rooms?limit=1", Ct)).GetProperty("total_rooms").GetInt32());

        // A public join rule through the state API is refused; Synapse keeps the room invite-only.
        var joinRule = await fixture.RunClientAsync("raw_request", new
        {
            ca = fixture.ChrootCaPath, user = FederationFixture.Client(alice), method = "PUT",
            path = $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(privateRoomId)}/state/m.room.join_rules/", body = new { join_rule = "public" },
        });
        Assert.True(joinRule.GetProperty("status").GetInt32() == 400, joinRule.ToString());
        Assert.Equal("M_INVALID_ROOM_STATE", joinRule.GetProperty("body").GetProperty("errcode").GetString());
        var state = await fixture.Hs1.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(privateRoomId)}/state", Ct);
        var stored = state.GetProperty("state").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.room.join_rules");
        Assert.Equal("invite", stored.GetProperty("content").GetProperty("join_rule").GetString());

        var after = await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct);
        Assert.Equal(RuleRefusals(before, "public-join-rule") + 1, RuleRefusals(after, "public-join-rule"));
        Assert.Equal(RuleRefusals(before, "room-version") + 1, RuleRefusals(after, "room-version"));
    }

    [Fact, Step(63)]
    public async Task TimFederationOverrides_PublicRoomsRefusedBetweenServers_VersionNeedsXMatrix()
    {
        fixture.SkipUnlessRunning();
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var before = await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct);

        // bob asks his homeserver for hs1's room directory: Synapse 2 asks hs1 over federation, hs1's proxy refuses.
        var directory = await fixture.RunClientAsync("raw_request", new
        {
            ca = fixture.ChrootCaPath, user = FederationFixture.Client(bob), method = "GET",
            path = $"/_matrix/client/v3/publicRooms?server={Uri.EscapeDataString(fixture.Hs1.ServerName)}",
        });
        Assert.True(directory.GetProperty("status").GetInt32() >= 400, directory.ToString());
        var after = await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct);
        Assert.True(RuleRefusals(after, "federation-public-rooms") > RuleRefusals(before, "federation-public-rooms"),
            "hs1's inbound proxy should have answered Synapse 2's publicRooms request itself");

        // The federation version endpoint, which the spec leaves open, needs X-Matrix.
        using var federation = FederationClient(fixture.Hs1);
        using var version = await federation.GetAsync("/_matrix/federation/v1/version", Ct);
        var versionBody = await version.Content.ReadAsStringAsync(Ct);
        Assert.True((int)version.StatusCode == 401, versionBody);
        Assert.Equal("M_UNAUTHORIZED", JsonDocument.Parse(versionBody).RootElement.GetProperty("errcode").GetString());
    }

    [Fact, Step(64)]
    public async Task TimInformationApi_ValidatesARealOpenIdTokenAtTheRealHomeserver()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");

        // matrix-nio asks Synapse, through hs1's proxy, for an OpenID token, as a TI-M client does before calling the API.
        var openId = await RawAsync(alice, "POST", $"/_matrix/client/v3/user/{Uri.EscapeDataString(alice.UserId)}/openid/request_token", new { });
        var token = openId.GetProperty("access_token").GetString()!;

        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{fixture.Hs1.InformationPort}") };
        async Task<(int Status, JsonElement Body)> GetAsync(string target, string bearer)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, target);
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearer);
            using var response = await api.SendAsync(request, Ct);
            return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone());
        }

        var info = await GetAsync("/tim-information", token);
        Assert.True(info.Status == 200, info.Body.ToString());
        Assert.Equal("1.0.0", info.Body.GetProperty("version").GetString());

        // hs2 is listed, but not as an insurance; the test list has no IKs.
        var insurance = await GetAsync($"/tim-information/v1/server/isInsurance?serverName={Uri.EscapeDataString(fixture.Hs2.ServerName)}", token);
        Assert.True(insurance.Status == 200, insurance.Body.ToString());
        Assert.False(insurance.Body.GetProperty("isInsurance").GetBoolean());
        Assert.Equal(404, (await GetAsync("/tim-information/v1/server/findByIk?ikNumber=109500969", token)).Status);

        // Synapse refuses a token it did not issue (and the access token is no OpenID token).
        var forged = await GetAsync("/tim-information", "NotAnOpenIdToken");
        Assert.Equal(401, forged.Status);
        Assert.Equal("401", forged.Body.GetProperty("errorCode").GetString());
        Assert.Equal(401, (await GetAsync("/tim-information", alice.AccessToken)).Status);
    }

    [Fact, Step(66)]
    public async Task InvitePermission_BlockAllSetThroughTheProxy_FederationInviteRefused_ServerExceptionLetsItThrough()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var configPath = $"/_matrix/client/v3/user/{Uri.EscapeDataString(bob.UserId)}/account_data/de.gematik.tim.account.permissionconfig.pro.v1";
        var before = await ProxyMetrics.ScrapeAsync(fixture.Hs2.HealthPort, Ct);

        // Nothing set yet: hs2's proxy answers Synapse's 404 with the default.
        var unset = await RawAsync(bob, "GET", configPath, null!);
        Assert.Equal("allow all", unset.GetProperty("defaultSetting").GetString());
        await RawAsync(bob, "PUT", configPath, new { defaultSetting = "block all" });
        var room = (await RawAsync(alice, "POST", "/_matrix/client/v3/createRoom", new { name = "invite check" })).GetProperty("room_id").GetString()!;

        // alice's Synapse sends the invite to hs2; hs2's inbound proxy refuses it before its Synapse sees it.
        var refused = await fixture.RunClientAsync("raw_request", new
        {
            ca = fixture.ChrootCaPath, user = FederationFixture.Client(alice), method = "POST",
            path = $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(room)}/invite", body = new { user_id = bob.UserId },
        });
        Assert.True(refused.GetProperty("status").GetInt32() == 403, refused.ToString());
        var after = await ProxyMetrics.ScrapeAsync(fixture.Hs2.HealthPort, Ct);
        Assert.True(RuleRefusals(after, "invite-permission") > RuleRefusals(before, "invite-permission"),
            "hs2's inbound proxy should have refused the federation invite by the permission configuration");
        Assert.False(await InvitedAsync(bob, room), "bob must never see the refused invite");
        var hs2Members = await fixture.Hs2.Synapse.AdminAsync(HttpMethod.Get, $"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(room)}/members", cancellationToken: Ct);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, hs2Members.StatusCode);

        // With alice's server excepted, the same invite reaches bob (the write through the proxy drops its cached copy).
        await RawAsync(bob, "PUT", configPath, new Dictionary<string, object>
        {
            ["defaultSetting"] = "block all",
            ["serverExceptions"] = new Dictionary<string, object> { [fixture.Hs1.ServerName] = new { } },
        });
        await RawAsync(alice, "POST", $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(room)}/invite", new { user_id = bob.UserId });
        Assert.True(await InvitedAsync(bob, room), "bob should see the invite his server exception allows");
    }

    [Fact, Step(67)]
    public async Task OrphanedRoomCleanup_DeletesAStateOnlyRoom_KeepsARoomWithAMessage()
    {
        fixture.SkipUnlessRunning();
        var carol = await fixture.UserAsync(fixture.Hs2, "carol");
        var orphan = (await RawAsync(carol, "POST", "/_matrix/client/v3/createRoom", new { name = "orphan" })).GetProperty("room_id").GetString()!;
        var kept = (await RawAsync(carol, "POST", "/_matrix/client/v3/createRoom", new { name = "kept" })).GetProperty("room_id").GetString()!;
        await RawAsync(carol, "PUT", $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(kept)}/send/m.room.message/t1", new { msgtype = "m.text", body = "one message" });
        // More state after the message: only the whole timeline shows the message.
        await RawAsync(carol, "PUT", $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(kept)}/state/m.room.topic/", new { topic = "later" });

        // hs2's proxy has a threshold of seconds (FederationFixture): both rooms are past it after this wait.
        await Task.Delay(fixture.Hs2.OrphanedRoomThreshold!.Value + TimeSpan.FromSeconds(1), Ct);
        using var client = new HttpClient { Timeout = TimeSpan.FromMinutes(2) };
        using var run = await client.PostAsync($"http://127.0.0.1:{fixture.Hs2.HealthPort}/actuator/orphaned-rooms", null, Ct);
        var report = await run.Content.ReadAsStringAsync(Ct);

        Assert.True(run.IsSuccessStatusCode, report);
        Assert.True(JsonDocument.Parse(report).RootElement.GetProperty("deleted").GetInt32() >= 1, report);
        using var orphanAfter = await fixture.Hs2.Synapse.AdminAsync(HttpMethod.Get, $"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(orphan)}", cancellationToken: Ct);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, orphanAfter.StatusCode);
        var keptAfter = await fixture.Hs2.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(kept)}", Ct);
        Assert.Equal(kept, keptAfter.GetProperty("room_id").GetString());
    }

    /// <summary>Whether the user's sync lists an invite to the room (waiting a while for federation to deliver it).</summary>
    private async Task<bool> InvitedAsync(MatrixUser user, string roomId)
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            // Synapse caches an initial sync's answer for a while, per request: an inline filter of its own makes each one new.
            var filter = Uri.EscapeDataString(JsonSerializer.Serialize(new
            {
                room = new { timeline = new { limit = attempt + 1 } },
                presence = new { not_types = new[] { "x" + Guid.NewGuid().ToString("N") } },
            }));
            var sync = await RawAsync(user, "GET", $"/_matrix/client/v3/sync?timeout=0&filter={filter}", null!);
            if (sync.TryGetProperty("rooms", out var rooms) && rooms.TryGetProperty("invite", out var invites) && invites.TryGetProperty(roomId, out _))
            {
                return true;
            }

            await Task.Delay(500, Ct);
        }

        return false;
    }

    private async Task<JsonElement> RawAsync(MatrixUser user, string method, string path, object body)
    {
        var answer = await fixture.RunClientAsync("raw_request", new { ca = fixture.ChrootCaPath, user = FederationFixture.Client(user), method, path, body });
        Assert.True(answer.GetProperty("status").GetInt32() == 200, $"{method} {path}: {answer}");
        return answer.GetProperty("body");
    }

    private static async Task<JsonElement> StoredCreateContentAsync(HomeserverNode node, string roomId)
    {
        var state = await node.Synapse.AdminGetAsync($"/_synapse/admin/v1/rooms/{Uri.EscapeDataString(roomId)}/state", Ct);
        return state.GetProperty("state").EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.room.create").GetProperty("content");
    }

    [Fact, Step(86)]
    public async Task SignatureVerification_RealSynapseRequestsVerifiedAtBothProxies()
    {
        fixture.SkipUnlessRunning();

        // By now both servers have federated (invites, joins, messages): every request reached Synapse only after
        // its proxy verified the signature Synapse made, with keys from its own Synapse as notary.
        foreach (var node in new[] { fixture.Hs1, fixture.Hs2 })
        {
            var metrics = await ProxyMetrics.ScrapeAsync(node.HealthPort, Ct);
            Assert.True(Signatures(metrics, "verified") > 0, $"{node.Name}'s proxy verified no X-Matrix signature:\n{fixture.Diagnostics()}");
            Assert.Equal(0, Signatures(metrics, "bad_signature"));
            Assert.True(ProxyMetrics.Sum(metrics, "messengerproxy_inbound_server_key_fetches_total", "result=\"fetched\"") > 0, $"{node.Name}'s proxy fetched no keys");
        }
    }

    [Fact, Step(87)]
    public async Task SignatureVerification_ForgedSignatureSentStraightToHs2sProxy_Is401()
    {
        fixture.SkipUnlessRunning();
        using var hs1 = FederationClient(fixture.Hs1);
        var keyId = JsonDocument.Parse(await hs1.GetStringAsync("/_matrix/key/v2/server", Ct)).RootElement
            .GetProperty("verify_keys").EnumerateObject().First().Name;
        var before = await ProxyMetrics.ScrapeAsync(fixture.Hs2.HealthPort, Ct);

        // hs1's name and key ID, signed with a key that is not hs1's: only the proxy's check can tell.
        var forger = new TestKit.TestServerKey(fixture.Hs1.ServerName, keyId);
        const string Target = "/_matrix/federation/v1/event/forged";
        using var hs2 = FederationClient(fixture.Hs2);
        using var request = new HttpRequestMessage(HttpMethod.Get, Target);
        request.Headers.TryAddWithoutValidation("Authorization", forger.XMatrix("GET", Target, fixture.Hs2.ServerName));
        using var response = await hs2.SendAsync(request, Ct);
        var body = await response.Content.ReadAsStringAsync(Ct);

        Assert.True((int)response.StatusCode == 401, body);
        Assert.Equal("M_UNAUTHORIZED", JsonDocument.Parse(body).RootElement.GetProperty("errcode").GetString());
        Assert.Contains("does not verify", body);
        var after = await ProxyMetrics.ScrapeAsync(fixture.Hs2.HealthPort, Ct);
        Assert.Equal(Signatures(before, "bad_signature") + 1, Signatures(after, "bad_signature"));
    }

    private static double Signatures(string metrics, string result) =>
        ProxyMetrics.Sum(metrics, "messengerproxy_inbound_xmatrix_signatures_total", $"result=\"{result}\"");

    /// <summary>A client of a node's proxy federation listener (its TLS certificate from the federation test CA).</summary>
    private HttpClient FederationClient(HomeserverNode node)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = { RemoteCertificateValidationCallback = fixture.FederationCa.Validator },
            ConnectCallback = async (_, cancellationToken) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                await socket.ConnectAsync(System.Net.IPAddress.Loopback, node.ProxyPort, cancellationToken);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri(node.ClientUrl) };
    }

    private static double RuleRefusals(string metrics, string rule) =>
        ProxyMetrics.Sum(metrics, "messengerproxy_inbound_rule_refusals_total", $"rule=\"{rule}\"");

    [Fact, Step(70)]
    public async Task RawData_ARealClientLoginThroughTheProxy_IsReportedToTheCollector()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var before = fixture.Collector!.Requests.Count;

        var result = await fixture.RunClientAsync("login_whoami", new
        {
            ca = fixture.ChrootCaPath,
            user = FederationFixture.Client(alice),
            new_username = "walk-in-" + Guid.NewGuid().ToString("N")[..6],
        });
        Assert.Equal(alice.UserId, result.GetProperty("login").GetProperty("user_id").GetString());

        // Sent in the background: the client has its answer before the collector has the record.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        JsonElement? login = null;
        while (login is null)
        {
            login = fixture.Collector.Requests.Skip(before)
                .Select(r => JsonDocument.Parse(r.Body).RootElement.Clone())
                .Cast<JsonElement?>()
                .FirstOrDefault(r => r!.Value.GetProperty("operation").GetString() == "MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN");
            if (login is null)
            {
                await Task.Delay(50, timeout.Token);
            }
        }

        var record = login.Value;
        Assert.Equal("200", record.GetProperty("status").GetString());
        var message = record.GetProperty("message");
        Assert.Equal(fixture.Hs1.ServerName, message.GetProperty("M-Dom").GetString());
        Assert.Equal("e2e-hs1", message.GetProperty("Inst-ID").GetString());
        Assert.True(message.GetProperty("sizeIn").GetInt64() > 0);
        Assert.True(message.GetProperty("sizeOut").GetInt64() > 0);
        // Synapse's answer holds the new access token; the record holds none of the login's secrets.
        var body = System.Text.Encoding.UTF8.GetString(fixture.Collector.Requests.Skip(before).First(r => r.Body.AsSpan().IndexOf("MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN"u8) >= 0).Body);
        Assert.DoesNotContain("syt_", body);
        Assert.DoesNotContain(alice.UserId, body);
    }

    [Fact, Step(84)]
    public async Task FederationTransactions_RealSynapseTransactionsWereScannedBothWays_NoneRefused()
    {
        fixture.SkipUnlessRunning();

        // Steps 4-9 sent messages, typing, receipts and to-device messages from hs1 to hs2 as real transactions:
        // hs1's proxy read them going out, hs2's coming in, and both let every one through (step 50).
        var hs1 = await ProxyMetrics.ScrapeAsync(fixture.Hs1.HealthPort, Ct);
        var hs2 = await ProxyMetrics.ScrapeAsync(fixture.Hs2.HealthPort, Ct);

        Assert.True(ProxyMetrics.Sum(hs2, "messengerproxy_federation_transactions_scanned_total", "direction=\"inbound\"") > 0, "hs2's proxy scanned no inbound transaction\n" + fixture.Diagnostics());
        Assert.True(ProxyMetrics.Sum(hs1, "messengerproxy_federation_transactions_scanned_total", "direction=\"outbound\"") > 0, "hs1's proxy scanned no outbound transaction\n" + fixture.Diagnostics());
        Assert.Equal(0, ProxyMetrics.Sum(hs2, "messengerproxy_federation_transaction_refusals_total", "direction=\"inbound\""));
        Assert.Equal(0, ProxyMetrics.Sum(hs1, "messengerproxy_federation_transaction_refusals_total", "direction=\"outbound\""));
    }

    [Fact, Step(90)]
    public async Task RegistrationServiceStopped_ProxiesKeepTheLastGoodList_MessagesKeepFlowing()
    {
        fixture.SkipUnlessRunning();
        var alice = await fixture.UserAsync(fixture.Hs1, "alice");
        var bob = await fixture.UserAsync(fixture.Hs2, "bob");
        var room = await fixture.RunClientAsync("prepare_room", new { ca = fixture.ChrootCaPath, owner = FederationFixture.Client(alice), guest = FederationFixture.Client(bob) });
        var failedBefore = await FailedRefreshesAsync();

        await fixture.StopRegistrationServiceAsync();
        // Wait until every proxy has noticed (a failed poll), so the messages below really flow without the service.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await FailedRefreshesAsync()).Zip(failedBefore).Any(p => p.First <= p.Second))
        {
            Assert.True(DateTime.UtcNow < deadline, "the proxies did not notice the registration service is gone");
            await Task.Delay(ProxyConfiguration.PollInterval, Ct);
        }

        var fromAlice = "still federating " + Guid.NewGuid();
        var fromBob = "still here " + Guid.NewGuid();
        var result = await fixture.RunClientAsync("exchange", new
        {
            ca = fixture.ChrootCaPath, alice = FederationFixture.Client(alice), bob = FederationFixture.Client(bob),
            room_id = room.GetProperty("room_id").GetString(), from_alice = fromAlice, from_bob = fromBob,
        });

        Assert.Equal(alice.UserId, result.GetProperty("bob_saw").GetProperty("sender").GetString());
        Assert.Equal(bob.UserId, result.GetProperty("alice_saw").GetProperty("sender").GetString());
        using var health = new HttpClient();
        foreach (var node in new[] { fixture.Hs1, fixture.Hs2 })
        {
            using var answer = await health.GetAsync($"http://127.0.0.1:{node.HealthPort}/actuator/health", Ct);
            var readiness = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Ct)).RootElement.GetProperty("components");
            Assert.Equal("UP", readiness.GetProperty("federation-list").GetProperty("status").GetString());
            Assert.NotEqual("UP", readiness.GetProperty("registration-service").GetProperty("status").GetString());
        }
    }

    private async Task<List<double>> FailedRefreshesAsync()
    {
        var counts = new List<double>();
        foreach (var node in fixture.Nodes)
        {
            counts.Add(ProxyMetrics.Sum(await ProxyMetrics.ScrapeAsync(node.HealthPort, Ct), "messengerproxy_federation_refreshes_total", "outcome=\"failed\""));
        }

        return counts;
    }

    private static System.Net.Http.Json.JsonContent Json(object body) => System.Net.Http.Json.JsonContent.Create(body);

    /// <summary>mp-lb (tools/LowBandwidthCli) as a phone would use it, trusting the federation test CA for DTLS.</summary>
    private async Task<JsonElement> MpLbAsync(params string[] args)
    {
        using var output = new MemoryStream();
        using var errors = new StringWriter();
        var exit = await Cli.RunAsync([.. args, "--ca", fixture.FederationCaPath], new MemoryStream(), output, errors);
        Assert.True(exit == 0, $"mp-lb {string.Join(' ', args.Take(2))}: exit {exit}: {errors}");
        return JsonDocument.Parse(output.ToArray()).RootElement.Clone();
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
