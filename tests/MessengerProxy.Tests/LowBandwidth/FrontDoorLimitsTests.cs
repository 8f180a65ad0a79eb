using System.Text;
using MessengerProxy.LowBandwidth;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

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
}
