using System.Text;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>The front door's own size limits, on a proxy configured small.</summary>
public sealed class FrontDoorLimitsTests
{
    [Fact]
    public async Task HomeserverAnswerOverMaxResponseBodyBytes_502TooLarge()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) => context.Response.WriteAsync("{\"padding\":\"" + new string('p', 5000) + "\"}");
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:MaxResponseBodyBytes=1000");
        using var client = new CoapTestClient(proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!);

        var answer = await client.RequestAsync(client.Request(1, "/W/@big:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));

        Assert.Equal("5.02", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("M_TOO_LARGE", Encoding.UTF8.GetString(new CborJsonConverter(CborKeyTable.V1).CborToJson(answer.Payload, out _)));
        Assert.Single(upstream.Requests);
    }

    [Fact]
    public async Task RequestBodyOverMaxRequestBodyBytes_413_NothingForwarded()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:MaxRequestBodyBytes=100");
        using var client = new CoapTestClient(proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!);
        var request = client.Request(3, "/9/!r:x/m.room.message/t1", CoapType.Confirmable,
            CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"), CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Json));
        request.Payload = Encoding.UTF8.GetBytes("{\"body\":\"" + new string('b', 200) + "\"}");

        var answer = await client.RequestAsync(request);

        Assert.Equal("4.13", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("M_TOO_LARGE", Encoding.UTF8.GetString(new CborJsonConverter(CborKeyTable.V1).CborToJson(answer.Payload, out _)));
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task UnfinishedUpload_DroppedAfterUploadIdleTimeout_ItsNextBlockGets408()
    {
        var clock = new ManualTimeProvider(DateTimeOffset.UtcNow);
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), b => b.Services.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:UploadIdleTimeout=00:01:00");
        using var client = new CoapTestClient(proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!);
        var upload = new Upload(client, "/9/!r:x/m.room.message/t1", 3000);

        Assert.Equal("2.31", CoapMessage.FormatCode((await upload.SendAsync(0)).Code));
        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal("2.31", CoapMessage.FormatCode((await upload.SendAsync(1)).Code));
        clock.Advance(TimeSpan.FromSeconds(61));
        var answer = await upload.SendAsync(2);

        Assert.Equal("4.08", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("start again from block 0", Text(answer));
        Assert.Empty(upstream.Requests);
    }

    [Fact]
    public async Task BufferedBodyBudget_OldestUploadDroppedForANewOne_ItsNextBlockGets408_OthersComplete()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:MaxBufferedBodyBytes=2048");
        var endPoint = proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!;
        using var a = new CoapTestClient(endPoint);
        using var b = new CoapTestClient(endPoint);
        using var c = new CoapTestClient(endPoint);
        var first = new Upload(a, "/9/!a:x/m.room.message/t1", 1100);
        var second = new Upload(b, "/9/!b:x/m.room.message/t1", 1100);
        var third = new Upload(c, "/9/!c:x/m.room.message/t1", 1100);

        // Three associations, 1024 bytes each, room for two: the oldest upload goes.
        Assert.Equal("2.31", CoapMessage.FormatCode((await first.SendAsync(0)).Code));
        Assert.Equal("2.31", CoapMessage.FormatCode((await second.SendAsync(0)).Code));
        Assert.Equal("2.31", CoapMessage.FormatCode((await third.SendAsync(0)).Code));

        Assert.Equal("4.08", CoapMessage.FormatCode((await first.SendAsync(1)).Code));
        Assert.Equal("2.05", CoapMessage.FormatCode((await second.SendAsync(1)).Code));
        Assert.Equal(second.Body, Assert.Single(upstream.Requests).Body);
    }

    [Fact]
    public async Task BodiesLargerThanTheWholeBudget_503()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) => context.Response.WriteAsync("{\"padding\":\"" + new string('p', 5000) + "\"}");
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:MaxBufferedBodyBytes=2048");
        using var client = new CoapTestClient(proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!);

        // An answer that needs blocks but cannot be kept for them.
        var answer = await client.RequestAsync(client.Request(1, "/W/@big:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));
        Assert.Equal("5.03", CoapMessage.FormatCode(answer.Code));
        Assert.Contains("M_LIMIT_EXCEEDED", Text(answer));

        // An upload that outgrows it.
        var upload = new Upload(client, "/9/!r:x/m.room.message/t1", 3000);
        Assert.Equal("2.31", CoapMessage.FormatCode((await upload.SendAsync(0)).Code));
        Assert.Equal("2.31", CoapMessage.FormatCode((await upload.SendAsync(1)).Code));
        var refused = await upload.SendAsync(2);
        Assert.Equal("5.03", CoapMessage.FormatCode(refused.Code));
        Assert.Contains("M_LIMIT_EXCEEDED", Text(refused));
        Assert.DoesNotContain(upstream.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task BufferedBodyBudget_SharedByCachedAnswers_OldestDropped_ItsLaterBlockAsksTheHomeserverAgain()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = (context, _) => context.Response.WriteAsync("{\"padding\":\"" + new string('p', 5000) + "\"}");
        await using var proxy = await ProxyHost.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'),
            "LowBandwidth:Enabled=true", "LowBandwidth:PlainPort=0", "LowBandwidth:MaxBufferedBodyBytes=8000");
        var endPoint = proxy.Services.GetRequiredService<LowBandwidthServer>().PlainEndPoint!;
        using var a = new CoapTestClient(endPoint);
        using var b = new CoapTestClient(endPoint);

        var firstBlock = await a.RequestAsync(a.Request(1, "/W/@a:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));
        Assert.Equal("2.05", CoapMessage.FormatCode(firstBlock.Code));
        Assert.NotNull(firstBlock.Find(CoapOptionNumbers.Block2));
        await b.RequestAsync(b.Request(1, "/W/@b:x", CoapType.Confirmable, CoapOption.FromString(CoapOptionNumbers.AccessToken, "t")));

        var secondBlock = await a.RequestAsync(a.Request(1, "/W/@a:x", CoapType.Confirmable, new CoapBlock(1, false, 6).ToOption(CoapOptionNumbers.Block2)));

        Assert.Equal("2.05", CoapMessage.FormatCode(secondBlock.Code));
        Assert.Equal(2, upstream.Requests.Count(r => r.RawTarget == "/_matrix/client/v3/profile/@a:x"));
        Assert.Single(upstream.Requests, r => r.RawTarget == "/_matrix/client/v3/profile/@b:x");
    }

    private static string Text(CoapMessage answer) => Encoding.UTF8.GetString(new CborJsonConverter(CborKeyTable.V1).CborToJson(answer.Payload, out _));

    /// <summary>A JSON body of <paramref name="length"/> bytes sent in 1024-byte Block1 blocks, one at a time, under one CoAP token.</summary>
    private sealed class Upload(CoapTestClient client, string path, int length)
    {
        private readonly byte[] _token = BitConverter.GetBytes(Random.Shared.NextInt64());

        public byte[] Body { get; } = Encoding.UTF8.GetBytes("{\"body\":\"" + new string('b', length - 12) + "\"}");

        public Task<CoapMessage> SendAsync(uint number)
        {
            var more = (number + 1) * 1024 < Body.Length;
            var request = client.Request(3, path, CoapType.Confirmable,
                CoapOption.FromString(CoapOptionNumbers.AccessToken, "t"), CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Json),
                new CoapBlock(number, more, 6).ToOption(CoapOptionNumbers.Block1));
            request.Token = _token;
            request.Payload = Body.AsMemory((int)(number * 1024), (int)Math.Min(1024, Body.Length - (number * 1024)));
            return client.RequestAsync(request);
        }
    }
}
