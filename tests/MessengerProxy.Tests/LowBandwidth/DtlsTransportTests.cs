using System.Diagnostics;
using System.Formats.Cbor;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using MessengerProxy.LowBandwidth;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>
/// The MSC3079 front door over DTLS, end to end through the real proxy, with independent clients:
/// OpenSSL's <c>s_client</c> and libcoap's <c>coap-client-openssl</c>, plus raw UDP for what they cannot send.
/// </summary>
public sealed class DtlsTransportTests
{
    private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task OpenSslCompletesAHandshakeWithAnEcdsaSuiteAndBothSidesLogTheSameSessionKey()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings: "LowBandwidth:KeyLogFile={dir}/server-keys.log");
        var clientKeyLog = Path.Combine(door.Directory, "client-keys.log");

        var (_, stdout, stderr) = await RunAsync("openssl", "s_client", "-dtls1_2", "-brief", "-connect", $"127.0.0.1:{door.Port}",
            "-CAfile", door.CaPath, "-verify_return_error", "-verify_ip", "127.0.0.1", "-keylogfile", clientKeyLog);
        var output = stdout + stderr;

        Assert.Contains("Protocol version: DTLSv1.2", output);
        Assert.Contains("Ciphersuite: ECDHE-ECDSA-AES128-GCM-SHA256", output);
        Assert.Contains("Verification: OK", output);

        // Same client random and master secret on both sides: the server's NSS key log line is correct.
        var serverLines = await ReadKeyLogAsync(Path.Combine(door.Directory, "server-keys.log"));
        var clientLines = await ReadKeyLogAsync(clientKeyLog);
        var line = Assert.Single(serverLines);
        Assert.Matches("^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}$", line);
        Assert.Contains(line, clientLines);
    }

    [Fact]
    public async Task AnRsaCertificateGetsAnRsaSuite()
    {
        await using var door = await FrontDoor.StartAsync(rsa: true);

        var (_, stdout, stderr) = await RunAsync("openssl", "s_client", "-dtls1_2", "-brief", "-connect", $"127.0.0.1:{door.Port}",
            "-CAfile", door.CaPath, "-verify_return_error");
        var output = stdout + stderr;

        Assert.Contains("Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256", output);
        Assert.Contains("Verification: OK", output);
    }

    [Fact]
    public async Task LibcoapGetsTheVersionsAsCborThroughTheFrontDoor()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        var answer = Path.Combine(door.Directory, "versions.cbor");

        var (exit, stdout, stderr) = await RunAsync("coap-client-openssl", "-m", "get", "-B", "10", "-R", door.CaPath, "-o", answer,
            $"coaps://127.0.0.1:{door.Port}/0");

        Assert.True(exit == 0 && File.Exists(answer), $"coap-client failed ({exit}): {stdout} {stderr}");
        var versions = ReadTextArray(await File.ReadAllBytesAsync(answer, TestContext.Current.CancellationToken), "versions");
        Assert.Contains("v1.11", versions);

        var request = Assert.Single(door.Upstream.Requests, r => r.RawTarget == "/_matrix/client/versions");
        Assert.Equal("GET", request.Method);
        Assert.Equal("127.0.0.1", request.Header("X-Forwarded-For"));
    }

    [Fact]
    public async Task LibcoapPutsAMessageWithTheAccessTokenOption()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        const string body = """{"msgtype":"m.text","body":"hello over DTLS"}""";

        var (exit, stdout, stderr) = await RunAsync("coap-client-openssl", "-m", "put", "-B", "10", "-R", door.CaPath,
            "-O", "256,secret-token", "-t", "50", "-e", body, $"coaps://127.0.0.1:{door.Port}/9/!r:x/m.room.message/t1");

        Assert.True(exit == 0, $"coap-client failed ({exit}): {stdout} {stderr}");
        var request = Assert.Single(door.Upstream.Requests, r => r.Method == "PUT");
        Assert.Equal("/_matrix/client/v3/rooms/!r:x/send/m.room.message/t1", request.RawTarget);
        Assert.Equal("Bearer secret-token", request.Header("Authorization"));
        var sent = JsonNode.Parse(request.Body)!;
        Assert.Equal("m.text", (string?)sent["msgtype"]);
        Assert.Equal("hello over DTLS", (string?)sent["body"]);
    }

    [Fact]
    public async Task AClientHelloWithoutCookieGetsAHelloVerifyRequestAndLeavesNoState()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));

        await udp.SendAsync(ClientHelloWithoutCookie(), new IPEndPoint(IPAddress.Loopback, door.Port), TestContext.Current.CancellationToken);
        var reply = await ReceiveAsync(udp);

        Assert.Equal(22, reply[0]); // handshake record
        Assert.Equal(3, reply[13]); // hello_verify_request
        Assert.True(reply.Length <= 13 + 12 + 3 + 32 + 1, $"a HelloVerifyRequest of {reply.Length} bytes is larger than expected");

        // The reply went out from the receive loop, after anything the ClientHello could have created.
        var transport = door.Server.Dtls!;
        Assert.Equal(0, transport.PeerCount);
        Assert.Equal(0, transport.HandshakesInProgress);
        Assert.Equal(0, transport.AssociationCount);
    }

    [Fact]
    public async Task GarbageDoesNotHurtTheListener()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var target = new IPEndPoint(IPAddress.Loopback, door.Port);
        var hello = ClientHelloWithoutCookie();
        List<byte[]> datagrams =
        [
            [],
            [22],
            RandomNumberGenerator.GetBytes(13),
            RandomNumberGenerator.GetBytes(1500),
            hello[..20], // a truncated ClientHello
            [25, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 0, 1, 0], // a CID record for no association
            [.. hello[..13], 1, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF], // absurd handshake lengths
        ];
        for (var i = 0; i < 50; i++)
        {
            var noise = RandomNumberGenerator.GetBytes(RandomNumberGenerator.GetInt32(14, 300));
            noise[0] = (byte)RandomNumberGenerator.GetInt32(20, 26);
            noise[1] = 0xFE;
            datagrams.Add(noise);
        }

        foreach (var datagram in datagrams)
        {
            await udp.SendAsync(datagram, target, TestContext.Current.CancellationToken);
        }

        var (_, stdout, stderr) = await RunAsync("openssl", "s_client", "-dtls1_2", "-brief", "-connect", $"127.0.0.1:{door.Port}",
            "-CAfile", door.CaPath, "-verify_return_error");

        Assert.Contains("Verification: OK", stdout + stderr);
        Assert.Equal(0, door.Server.Dtls!.HandshakesInProgress);
    }

    [Fact]
    public async Task ARecordForAnUnknownAssociationGetsARateLimitedFatalAlert()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var door = await FrontDoor.StartAsync(rsa: false, configure: b => b.Services.AddSingleton<TimeProvider>(clock));
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var target = new IPEndPoint(IPAddress.Loopback, door.Port);

        // What a client sends after the server restarted: application data in epoch 1.
        byte[] record = [23, 0xFE, 0xFD, 0, 1, 0, 0, 0, 0, 0, 9, 0, 24, .. RandomNumberGenerator.GetBytes(24)];
        byte[] alert = [21, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 10];

        await udp.SendAsync(record, target, TestContext.Current.CancellationToken);
        Assert.Equal(alert, await ReceiveAsync(udp));

        // Within the second: no alert. The ClientHello that follows is answered in order, so a second
        // alert would arrive before its HelloVerifyRequest.
        await udp.SendAsync(record, target, TestContext.Current.CancellationToken);
        await udp.SendAsync(ClientHelloWithoutCookie(), target, TestContext.Current.CancellationToken);
        var next = await ReceiveAsync(udp);
        Assert.Equal(22, next[0]);

        clock.Advance(TimeSpan.FromSeconds(2));
        await udp.SendAsync(record, target, TestContext.Current.CancellationToken);
        Assert.Equal(alert, await ReceiveAsync(udp));
    }

    [Fact]
    public async Task VersionsAdvertisesTheDtlsPort()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        using var client = door.Proxy.CreateClient();

        var versions = JsonNode.Parse(await client.GetStringAsync("/_matrix/client/versions", TestContext.Current.CancellationToken))!;

        Assert.Equal("v1.11", (string?)versions["versions"]![0]);
        foreach (var name in new[] { "org.matrix.msc3079.low_bandwidth", "m.low_bandwidth" })
        {
            var advertised = versions["unstable_features"]?[name] ?? versions[name];
            Assert.NotNull(advertised);
            Assert.Equal(door.Port, (int)advertised["dtls"]!);
            Assert.Equal(1, (int)advertised["cbor_enum_version"]!);
            Assert.Equal(1, (int)advertised["coap_enum_version"]!);
        }
    }

    [Fact]
    public async Task WithAConnectionIdTheAssociationFollowsTheClientToANewAddress()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, offerConnectionId: true)
            .WaitAsync(s_wait, TestContext.Current.CancellationToken);

        // The RFC 7252 mandatory suite works too, and the server handed out a connection ID of its fixed length.
        Assert.Equal(0xC0AE, client.CipherSuite);
        Assert.Equal(6, client.ServerConnectionId?.Length);

        var first = await client.ExchangeAsync(GetVersions(0x1001)).WaitAsync(s_wait, TestContext.Current.CancellationToken);
        AssertContentResponse(first, 0x1001);

        client.Rebind();
        var second = await client.ExchangeAsync(GetVersions(0x1002)).WaitAsync(s_wait, TestContext.Current.CancellationToken);

        // The answer reached the new port: the server moved the association, and kept just the one.
        AssertContentResponse(second, 0x1002);
        Assert.Equal(1, door.Server.Dtls!.AssociationCount);
        Assert.Equal(1, door.Server.Dtls.PeerCount);
        Assert.Equal(2, door.Upstream.Requests.Count(r => r.RawTarget == "/_matrix/client/versions"));
    }

    [Fact]
    public async Task WithoutAConnectionIdRecordsFromANewAddressGetTheAlertInstead()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, offerConnectionId: false)
            .WaitAsync(s_wait, TestContext.Current.CancellationToken);
        Assert.Null(client.ServerConnectionId);
        AssertContentResponse(await client.ExchangeAsync(GetVersions(0x2001)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x2001);

        client.Rebind();
        var answer = await client.ExchangeAsync(GetVersions(0x2002), waitMillis: 2000).WaitAsync(s_wait, TestContext.Current.CancellationToken);

        // BouncyCastle ignores a plaintext alert in epoch 0 once established, so no answer at all reaches the client...
        Assert.Null(answer);

        // ...and the homeserver saw only the first request: an unauthenticated address cannot use the association.
        Assert.Single(door.Upstream.Requests, r => r.RawTarget == "/_matrix/client/versions");
    }

    [Fact]
    public async Task AnIdleAssociationIsClosedWithCloseNotify()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings: "LowBandwidth:IdleTimeout=00:00:01");
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, offerConnectionId: false)
            .WaitAsync(s_wait, TestContext.Current.CancellationToken);

        // Receive returns when the close_notify arrives (or gives up after the bound).
        var received = await Task.Factory.StartNew(() => client.Receive(15_000), TestContext.Current.CancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            .WaitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken);

        Assert.Null(received);
        Assert.True(client.ReceivedCloseNotify, "the client got no close_notify");
        var transport = door.Server.Dtls!;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        while (transport.AssociationCount + transport.PeerCount > 0)
        {
            await Task.Delay(20, timeout.Token);
        }
    }

    [Fact]
    public async Task HandshakesAreLimitedInNumberAndInTime()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings: ["LowBandwidth:MaxConcurrentHandshakes=1", "LowBandwidth:HandshakeTimeout=00:00:01"]);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        var transport = door.Server.Dtls!;
        using var first = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        using var second = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));

        // A client that stops after its ClientHello holds the only handshake slot: the server answers with its flight.
        await SendVerifiedClientHelloAsync(first, server);
        var flight = await ReceiveAsync(first);
        Assert.True(flight[0] == 22, "not a handshake record: " + Convert.ToHexString(flight));
        Assert.Equal(2, flight[13]); // server_hello
        Assert.Equal(1, transport.HandshakesInProgress);

        // A second verified ClientHello meanwhile is dropped: no state for it (checked after a later datagram of
        // the same client was answered, since the receive loop handles datagrams in order).
        await SendVerifiedClientHelloAsync(second, server);
        await second.SendAsync(ClientHelloWithoutCookie(), server, TestContext.Current.CancellationToken);
        while ((await ReceiveAsync(second))[13] != 3)
        {
        }

        Assert.Equal(1, transport.PeerCount);

        // The handshake timeout frees the slot and the state of the silent client.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        while (transport.HandshakesInProgress + transport.PeerCount > 0)
        {
            await Task.Delay(20, timeout.Token);
        }

        var (_, stdout, stderr) = await RunAsync("openssl", "s_client", "-dtls1_2", "-brief", "-connect", $"127.0.0.1:{door.Port}",
            "-CAfile", door.CaPath, "-verify_return_error");
        Assert.Contains("Verification: OK", stdout + stderr);
    }

    [Fact]
    public async Task AFloodOfStalledHandshakesDoesNotLockOutANewClient()
    {
        // The handshake timeout alone would hold every slot for a minute: only the new limits can let the client in.
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings: "LowBandwidth:HandshakeTimeout=00:01:00");
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        var transport = door.Server.Dtls!;
        var flooders = new List<UdpClient>();
        try
        {
            // 80 sources in 80 different /24s (all of 127/8 is loopback), each passing the cookie exchange and then silent.
            for (var i = 1; i <= 80; i++)
            {
                flooders.Add(await StalledHandshakeAsync(IPAddress.Parse($"127.0.{i}.1"), server));
            }

            Assert.InRange(transport.HandshakesInProgress, 1, 64);

            // More keep coming while the client connects.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            var flood = Task.Run(async () =>
            {
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var udp = await StalledHandshakeAsync(IPAddress.Parse($"127.1.{i % 200}.{1 + (i / 200)}"), server);
                    lock (flooders)
                    {
                        flooders.Add(udp);
                    }

                    await Task.Delay(50, TestContext.Current.CancellationToken);
                }
            }, TestContext.Current.CancellationToken);

            using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, offerConnectionId: false)
                .WaitAsync(s_wait, TestContext.Current.CancellationToken);
            AssertContentResponse(await client.ExchangeAsync(GetVersions(0x4001)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x4001);
            await stop.CancelAsync();
            await flood;
        }
        finally
        {
            lock (flooders)
            {
                flooders.ForEach(f => f.Dispose());
            }
        }
    }

    [Fact]
    public async Task AHandshakeThatStallsAfterItsClientHelloIsDroppedLongBeforeTheHandshakeTimeout()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings: ["LowBandwidth:HandshakeTimeout=00:01:00", "LowBandwidth:HandshakeStallTimeout=00:00:01"]);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        var transport = door.Server.Dtls!;

        using var silent = await StalledHandshakeAsync(IPAddress.Loopback, server);
        Assert.Equal(1, transport.HandshakesInProgress);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        while (transport.HandshakesInProgress + transport.PeerCount > 0)
        {
            await Task.Delay(20, timeout.Token);
        }

        // A client that answers is not hurried by the short timeout.
        using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, offerConnectionId: false)
            .WaitAsync(s_wait, TestContext.Current.CancellationToken);
        AssertContentResponse(await client.ExchangeAsync(GetVersions(0x4101)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x4101);
    }

    [Fact]
    public async Task HandshakesInProgressAreLimitedPerSourceNetwork()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings:
            ["LowBandwidth:MaxHandshakesPerSourceNetwork=2", "LowBandwidth:HandshakeStallTimeout=00:01:00", "LowBandwidth:HandshakeTimeout=00:01:00"]);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        var transport = door.Server.Dtls!;
        var sources = new List<UdpClient>();
        try
        {
            // Five sources in 127.0.0.0/24: two handshakes get state, the other ClientHellos are dropped.
            for (var i = 2; i <= 6; i++)
            {
                sources.Add(await StalledHandshakeAsync(IPAddress.Parse($"127.0.0.{i}"), server));
            }

            Assert.Equal(2, transport.HandshakesInProgress);
            Assert.Equal(2, transport.PeerCount);

            // Another /24 has its own allowance.
            sources.Add(await StalledHandshakeAsync(IPAddress.Parse("127.0.1.2"), server));
            Assert.Equal(3, transport.HandshakesInProgress);
        }
        finally
        {
            sources.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task WhenAllHandshakeSlotsAreTakenTheOldestStalledOneMakesRoom()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false, extraSettings:
            ["LowBandwidth:MaxConcurrentHandshakes=2", "LowBandwidth:HandshakeStallTimeout=00:01:00", "LowBandwidth:HandshakeTimeout=00:01:00"]);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        var transport = door.Server.Dtls!;
        using var first = await StalledHandshakeAsync(IPAddress.Parse("127.0.1.1"), server);
        using var second = await StalledHandshakeAsync(IPAddress.Parse("127.0.2.1"), server);
        Assert.Equal(2, transport.HandshakesInProgress);

        using var client = await DtlsTestClient.ConnectAsync(server, Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, offerConnectionId: false)
            .WaitAsync(s_wait, TestContext.Current.CancellationToken);

        AssertContentResponse(await client.ExchangeAsync(GetVersions(0x4201)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x4201);
        Assert.Equal(1, transport.HandshakesInProgress);
        Assert.Equal(2, transport.PeerCount);
    }

    [Fact]
    public async Task AClientThatLostItsStateCanStartOverFromTheSameAddress()
    {
        await using var door = await FrontDoor.StartAsync(rsa: false);
        var server = new IPEndPoint(IPAddress.Loopback, door.Port);
        const int Gcm = Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256;
        var crashed = await DtlsTestClient.ConnectAsync(server, Gcm, offerConnectionId: false).WaitAsync(s_wait, TestContext.Current.CancellationToken);
        var port = crashed.LocalEndPoint.Port;
        AssertContentResponse(await crashed.ExchangeAsync(GetVersions(0x3001)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x3001);

        // Gone without close_notify, like an app that was killed; it comes back on the same port (RFC 6347 §4.2.8).
        crashed.Dispose();
        using var restarted = await DtlsTestClient.ConnectAsync(server, Gcm, offerConnectionId: false, localPort: port).WaitAsync(s_wait, TestContext.Current.CancellationToken);

        AssertContentResponse(await restarted.ExchangeAsync(GetVersions(0x3002)).WaitAsync(s_wait, TestContext.Current.CancellationToken), 0x3002);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        while (door.Server.Dtls!.AssociationCount != 1)
        {
            await Task.Delay(20, timeout.Token);
        }

        Assert.Equal(1, door.Server.Dtls.PeerCount);
    }

    /// <summary>A confirmable CoAP GET of path enum 0 (<c>/_matrix/client/versions</c>), token 0x7A.</summary>
    private static byte[] GetVersions(ushort messageId) => [0x41, 0x01, (byte)(messageId >> 8), (byte)messageId, 0x7A, 0xB1, (byte)'0'];

    /// <summary>A piggybacked 2.05 Content answer to <paramref name="messageId"/>, with a CBOR versions document.</summary>
    private static void AssertContentResponse(byte[]? datagram, ushort messageId)
    {
        Assert.NotNull(datagram);
        Assert.Equal(0x61, datagram[0]); // version 1, ACK, token length 1
        Assert.Equal(0x45, datagram[1]); // 2.05
        Assert.Equal(messageId, (ushort)((datagram[2] << 8) | datagram[3]));
        Assert.Equal(0x7A, datagram[4]);
        var payload = datagram.AsSpan(Array.IndexOf(datagram, (byte)0xFF) + 1).ToArray();
        Assert.Contains("v1.11", ReadTextArray(payload, "versions"));
    }

    /// <summary>
    /// A minimal DTLS 1.2 ClientHello in one record: one suite (ECDHE-ECDSA-AES128-GCM), P-256 and
    /// ecdsa_secp256r1_sha256 (without them there is no common ground), no renegotiation_info (like
    /// tinydtls; the server accepts that); empty cookie unless given.
    /// </summary>
    private static byte[] ClientHelloWithoutCookie() => ClientHello(RandomNumberGenerator.GetBytes(32), [], sequence: 0);

    private static byte[] ClientHello(byte[] random, byte[] cookie, byte sequence)
    {
        byte[] extensions = [0, 22, 0x00, 0x0A, 0, 4, 0, 2, 0x00, 0x17, 0x00, 0x0B, 0, 2, 1, 0, 0x00, 0x0D, 0, 4, 0, 2, 0x04, 0x03];
        List<byte> body = [0xFE, 0xFD, .. random, 0, (byte)cookie.Length, .. cookie, 0, 2, 0xC0, 0x2B, 1, 0, .. extensions];
        List<byte> handshake = [1, 0, 0, (byte)body.Count, 0, sequence, 0, 0, 0, 0, 0, (byte)body.Count, .. body];
        return [22, 0xFE, 0xFF, 0, 0, 0, 0, 0, 0, 0, sequence, 0, (byte)handshake.Count, .. handshake];
    }

    /// <summary>Does the cookie exchange by hand and sends the ClientHello with the cookie (which starts a handshake).</summary>
    private static async Task SendVerifiedClientHelloAsync(UdpClient udp, IPEndPoint server)
    {
        var random = RandomNumberGenerator.GetBytes(32);
        await udp.SendAsync(ClientHello(random, [], sequence: 0), server, TestContext.Current.CancellationToken);
        var verify = await ReceiveAsync(udp);
        Assert.Equal(3, verify[13]);
        var cookie = verify.AsSpan(28, verify[27]).ToArray();
        await udp.SendAsync(ClientHello(random, cookie, sequence: 1), server, TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// From a new socket on <paramref name="address"/>: the cookie exchange, the ClientHello with the cookie, and
    /// then silence. Returns once the server has dealt with that ClientHello (its flight arrived, or a
    /// HelloVerifyRequest to a later datagram from another source did: the receive loop works in order).
    /// </summary>
    private static async Task<UdpClient> StalledHandshakeAsync(IPAddress address, IPEndPoint server)
    {
        var udp = new UdpClient(new IPEndPoint(address, 0));
        await SendVerifiedClientHelloAsync(udp, server);
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Parse("127.0.0.250"), 0));
        await probe.SendAsync(ClientHelloWithoutCookie(), server, TestContext.Current.CancellationToken);
        Assert.Equal(3, (await ReceiveAsync(probe))[13]);
        return udp;
    }

    private static async Task<byte[]> ReceiveAsync(UdpClient udp)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        return (await udp.ReceiveAsync(timeout.Token)).Buffer;
    }

    private static async Task<string[]> ReadKeyLogAsync(string path)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(s_wait);
        while (!File.Exists(path))
        {
            await Task.Delay(50, timeout.Token);
        }

        return (await File.ReadAllLinesAsync(path, timeout.Token)).Where(l => l.StartsWith("CLIENT_RANDOM ", StringComparison.Ordinal)).ToArray();
    }

    /// <summary>The text strings of an array member of a CBOR map with text keys.</summary>
    private static List<string> ReadTextArray(byte[] cbor, string key)
    {
        var reader = new CborReader(cbor);
        var count = reader.ReadStartMap();
        for (var i = 0; count is null || i < count; i++)
        {
            if (reader.PeekState() == CborReaderState.EndMap)
            {
                break;
            }

            var name = reader.PeekState() == CborReaderState.TextString ? reader.ReadTextString() : null;
            if (name != key)
            {
                if (name is null)
                {
                    reader.SkipValue();
                }

                reader.SkipValue();
                continue;
            }

            var values = new List<string>();
            reader.ReadStartArray();
            while (reader.PeekState() != CborReaderState.EndArray)
            {
                values.Add(reader.ReadTextString());
            }

            return values;
        }

        throw new InvalidOperationException($"no '{key}' in the CBOR answer");
    }

    /// <summary>Runs a client with stdin closed (so s_client ends after the handshake) and a bounded wait.</summary>
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string program, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{program} could not be started");
        process.StandardInput.Close();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} did not finish: {string.Join(' ', args)}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }

    /// <summary>A proxy with the DTLS front door on a loopback port, its stand-in homeserver, and the PEM files.</summary>
    private sealed class FrontDoor : IAsyncDisposable
    {
        private FrontDoor(string directory, string caPath, RecordingUpstream upstream, ProxyHost proxy)
        {
            Directory = directory;
            CaPath = caPath;
            Upstream = upstream;
            Proxy = proxy;
            Server = proxy.Services.GetRequiredService<LowBandwidthServer>();
            Port = Server.DtlsEndPoint!.Port;
        }

        public string Directory { get; }

        public string CaPath { get; }

        public RecordingUpstream Upstream { get; }

        public ProxyHost Proxy { get; }

        internal LowBandwidthServer Server { get; }

        public int Port { get; }

        /// <param name="extraSettings">More settings; <c>{dir}</c> stands for the test's directory.</param>
        public static async Task<FrontDoor> StartAsync(bool rsa, Action<WebApplicationBuilder>? configure = null, params string[] extraSettings)
        {
            var directory = Path.Combine(Path.GetTempPath(), "mp-dtls-" + Guid.NewGuid().ToString("N"));
            System.IO.Directory.CreateDirectory(directory);
            var certificatePath = Path.Combine(directory, "server.pem");
            var keyPath = Path.Combine(directory, "server.key");
            var caPath = Path.Combine(directory, "ca.pem");
            if (rsa)
            {
                // Self-signed, so the certificate is its own trust anchor.
                using var key = RSA.Create(2048);
                var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
                var san = new SubjectAlternativeNameBuilder();
                san.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(san.Build());
                using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7));
                await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem());
                await File.WriteAllTextAsync(caPath, certificate.ExportCertificatePem());
                await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
            }
            else
            {
                using var ca = TestCertificateAuthority.Create("CN=DTLS Test CA");
                using var certificate = ca.IssueServer("127.0.0.1", "localhost");
                using var key = certificate.GetECDsaPrivateKey()!;
                await File.WriteAllTextAsync(certificatePath, certificate.ExportCertificatePem());
                await File.WriteAllTextAsync(caPath, ca.Certificate.ExportCertificatePem());
                await File.WriteAllTextAsync(keyPath, key.ExportPkcs8PrivateKeyPem());
            }

            var upstream = await RecordingUpstream.StartAsync();
            string[] settings =
            [
                "LowBandwidth:Enabled=true",
                "LowBandwidth:Port=0",
                "LowBandwidth:BindAddress=127.0.0.1",
                $"LowBandwidth:CertificatePath={certificatePath}",
                $"LowBandwidth:KeyPath={keyPath}",
                .. extraSettings.Select(s => s.Replace("{dir}", directory, StringComparison.Ordinal)),
            ];
            var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), configure, settings);
            return new FrontDoor(directory, caPath, upstream, proxy);
        }

        public async ValueTask DisposeAsync()
        {
            await Proxy.DisposeAsync();
            await Upstream.DisposeAsync();
            TestDirectories.Delete(Directory);
        }
    }
}
