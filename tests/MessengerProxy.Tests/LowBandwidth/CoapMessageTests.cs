using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.Tests.LowBandwidth;

public sealed class CoapMessageTests
{
    [Fact]
    public void RoundTrip_RequestWithTokenOptionsAndPayload()
    {
        var message = new CoapMessage { Type = CoapType.Confirmable, Code = 2, MessageId = 0xBEEF, Token = new byte[] { 1, 2, 3, 4 }, Payload = new byte[] { 0xA0 } };
        message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, "9"));
        message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, "!room:example.org"));
        message.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
        message.Add(CoapOption.FromString(CoapOptionNumbers.AccessToken, new string('t', 300)));
        message.Add(CoapOption.FromUInt(CoapOptionNumbers.CborVersion, 1));

        var bytes = message.Serialize();
        Assert.Equal(CoapFormatError.None, CoapMessage.TryParse(bytes, out var parsed));

        Assert.Equal(CoapType.Confirmable, parsed.Type);
        Assert.Equal(2, parsed.Code);
        Assert.Equal(0xBEEF, parsed.MessageId);
        Assert.Equal([1, 2, 3, 4], parsed.Token.ToArray());
        Assert.Equal([11, 11, 12, 256, 257], parsed.Options.Select(o => (int)o.Number));
        Assert.Equal("!room:example.org", System.Text.Encoding.UTF8.GetString(parsed.Options[1].Value.Span));
        Assert.Equal(300, parsed.Find(CoapOptionNumbers.AccessToken)!.Value.Value.Length);
        Assert.Equal(60u, parsed.Find(CoapOptionNumbers.ContentFormat)!.Value.UIntValue);
        Assert.Equal([0xA0], parsed.Payload.ToArray());
    }

    [Fact]
    public void Serialize_Rfc7252Example_GetWithUriPath()
    {
        // RFC 7252 Figure 16 style: CON GET, MID 0x7d34, no token, Uri-Path "temperature".
        var message = new CoapMessage { Type = CoapType.Confirmable, Code = 1, MessageId = 0x7d34 };
        message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, "temperature"));

        Assert.Equal("40017d34bb74656d7065726174757265", Convert.ToHexStringLower(message.Serialize()));
    }

    [Theory]
    [InlineData("", CoapFormatError.TooShort)]
    [InlineData("4001", CoapFormatError.TooShort)]
    [InlineData("80017d34", CoapFormatError.UnsupportedVersion)]
    [InlineData("49017d34", CoapFormatError.TokenTooLong)]
    [InlineData("44017d340102", CoapFormatError.TruncatedToken)]
    [InlineData("40017d34f0", CoapFormatError.ReservedOptionNibble)]
    [InlineData("40017d340f", CoapFormatError.ReservedOptionNibble)]
    [InlineData("40017d34b374", CoapFormatError.TruncatedOption)]
    [InlineData("40017d34d1", CoapFormatError.TruncatedOption)]
    [InlineData("40017d34e1ff", CoapFormatError.TruncatedOption)]
    [InlineData("40017d34ff", CoapFormatError.PayloadMarkerWithoutPayload)]
    [InlineData("40007d3400", CoapFormatError.EmptyMessageNotEmpty)]
    [InlineData("41007d3400", CoapFormatError.EmptyMessageNotEmpty)]
    public void TryParse_Malformed_ReportsTheFormatError(string hex, CoapFormatError expected)
    {
        Assert.Equal(expected, CoapMessage.TryParse(Convert.FromHexString(hex), out _));
    }

    [Fact]
    public void TryParse_EmptyConfirmable_IsAPing()
    {
        Assert.Equal(CoapFormatError.None, CoapMessage.TryParse(Convert.FromHexString("40001234"), out var ping));
        Assert.True(ping.IsEmpty);
        Assert.Equal(CoapType.Confirmable, ping.Type);
    }

    [Fact]
    public void Options_ExtendedDeltaAndLength_RoundTrip()
    {
        var message = new CoapMessage { Code = 0x45, MessageId = 1 };
        message.Add(new CoapOption(CoapOptionNumbers.Size1, new byte[13]));
        message.Add(new CoapOption(1000, new byte[269]));
        message.Add(new CoapOption(1000, new byte[0]));

        Assert.Equal(CoapFormatError.None, CoapMessage.TryParse(message.Serialize(), out var parsed));
        Assert.Equal([(60, 13), (1000, 269), (1000, 0)], parsed.Options.Select(o => ((int)o.Number, o.Value.Length)));
    }

    [Theory]
    [InlineData(0u, 0u, false, 0)]
    [InlineData(0x0Eu, 0u, true, 6)]
    [InlineData(0x16u, 1u, false, 6)]
    [InlineData(0xFFFFEu, 0xFFFFu, true, 6)]
    public void Block_DecodeEncode(uint value, uint number, bool more, int szx)
    {
        Assert.True(CoapBlock.TryDecode(value, out var block));
        Assert.Equal(number, block.Number);
        Assert.Equal(more, block.More);
        Assert.Equal(szx, block.SizeExponent);
        Assert.Equal(value, block.Encode());
    }

    [Fact]
    public void Block_Szx7_IsRefused()
    {
        Assert.False(CoapBlock.TryDecode(0x07, out _));
        Assert.Equal(1024, new CoapBlock(0, false, 6).Size);
        Assert.Equal(2048, new CoapBlock(2, true, 6).Offset);
    }
}
