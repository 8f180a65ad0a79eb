using System.Formats.Cbor;
using System.Text;
using System.Text.Json;
using MessengerProxy.LowBandwidth.Cbor;

namespace MessengerProxy.Tests.LowBandwidth;

public sealed class CborJsonConverterTests
{
    // The MSC3079 test object and its canonical CBOR with integer keys (also matrix-org/lb's example test).
    private const string MscJson = """{"type":"m.room.message","content":{"msgtype":"m.text","body":"Hello World"},"sender":"@alice:localhost","room_id":"!foo:localhost","unsigned":{"bool_value":true,"null_value":null}}""";
    private const string MscCborHex = "a5026e6d2e726f6f6d2e6d65737361676503a2181b6b48656c6c6f20576f726c64181c666d2e74657874056e21666f6f3a6c6f63616c686f7374067040616c6963653a6c6f63616c686f737409a26a626f6f6c5f76616c7565f56a6e756c6c5f76616c7565f6";

    private readonly CborJsonConverter _converter = new(CborKeyTable.V1, maxDepth: 32, maxItems: 10_000);

    [Fact]
    public void KeyTable_V1_Has104KeysNumbered1To104()
    {
        Assert.Equal(104, CborKeyTable.V1.Count);
        Assert.True(CborKeyTable.V1.TryGetInteger("origin_server_ts", out var ts));
        Assert.Equal(8, ts);
        Assert.True(CborKeyTable.V1.TryGetName(104, out var last));
        Assert.Equal("room_alias", last);
        Assert.False(CborKeyTable.V1.TryGetName(105, out _));
    }

    [Fact]
    public void JsonToCbor_MscVector_ByteForByte()
    {
        var cbor = _converter.JsonToCbor(Encoding.UTF8.GetBytes(MscJson), integerKeys: true);

        Assert.Equal(MscCborHex, Convert.ToHexStringLower(cbor));
    }

    [Fact]
    public void CborToJson_MscVector_GivesTheSameDocument()
    {
        var json = _converter.CborToJson(Convert.FromHexString(MscCborHex), out var usedIntegerKeys);

        Assert.True(usedIntegerKeys);
        AssertSameJson(MscJson, Encoding.UTF8.GetString(json));
    }

    [Fact]
    public void LbErrorVector_RoundTrips()
    {
        // matrix-org/lb TestJSONToCBORWriter: {"error":"something","errcode":"M_UNKNOWN"}.
        const string hex = "a21866694d5f554e4b4e4f574e186769736f6d657468696e67";
        var cbor = _converter.JsonToCbor("""{"error":"something","errcode":"M_UNKNOWN"}"""u8, integerKeys: true);

        Assert.Equal(hex, Convert.ToHexStringLower(cbor));
        AssertSameJson("""{"errcode":"M_UNKNOWN","error":"something"}""", Encoding.UTF8.GetString(_converter.CborToJson(cbor, out _)));
    }

    [Fact]
    public void JsonToCbor_WithoutIntegerKeys_KeepsTextKeys()
    {
        var cbor = _converter.JsonToCbor("""{"age":8}"""u8, integerKeys: false);

        Assert.Equal("a16361676508", Convert.ToHexStringLower(cbor));
    }

    [Theory]
    [InlineData("""{"age":8}""", "a11108")]
    [InlineData("""{"timeout":10000}""", "a11859192710")]
    [InlineData("""{"origin_server_ts":1620000000000}""", "a1081b000001792f864800")]
    [InlineData("""{"depth":-5}""", "a1182624")]
    public void JsonToCbor_Integers_AreCborIntegers(string json, string hex)
    {
        Assert.Equal(hex, Convert.ToHexStringLower(_converter.JsonToCbor(Encoding.UTF8.GetBytes(json), integerKeys: true)));
    }

    [Theory]
    // lb's proxy and mobile client write every number as a float64; canonical lb writes the shortest float.
    [InlineData("a111fb4020000000000000", """{"age":8}""")]
    [InlineData("a11859f970e2", """{"timeout":10000}""")]
    [InlineData("a108fb427792f864800000", """{"origin_server_ts":1620000000000}""")]
    [InlineData("a16178f93e00", """{"x":1.5}""")]
    public void CborToJson_LbFloatNumbers_BecomeJsonNumbers(string hex, string json)
    {
        AssertSameJson(json, Encoding.UTF8.GetString(_converter.CborToJson(Convert.FromHexString(hex), out _)));
    }

    [Fact]
    public void CborToJson_TextKeyWinsOverIntegerKey_InEitherOrder()
    {
        // {"one":11, 1:12} with 1 = event_id: lb's TestCBORDuplicateKey, with the table's name for 1.
        var textFirst = Encode(w => { w.WriteStartMap(2); w.WriteTextString("event_id"); w.WriteInt32(11); w.WriteInt32(1); w.WriteInt32(12); w.WriteEndMap(); });
        var integerFirst = Encode(w => { w.WriteStartMap(2); w.WriteInt32(1); w.WriteInt32(12); w.WriteTextString("event_id"); w.WriteInt32(11); w.WriteEndMap(); });

        AssertSameJson("""{"event_id":11}""", Encoding.UTF8.GetString(_converter.CborToJson(textFirst, out _)));
        AssertSameJson("""{"event_id":11}""", Encoding.UTF8.GetString(_converter.CborToJson(integerFirst, out _)));
    }

    [Fact]
    public void CborToJson_UnknownIntegerKey_BecomesDecimalString_AndTextDigitsStayLiteral()
    {
        var cbor = Encode(w => { w.WriteStartMap(3); w.WriteInt32(999); w.WriteTextString("a"); w.WriteTextString("8"); w.WriteTextString("b"); w.WriteInt32(-3); w.WriteTextString("c"); w.WriteEndMap(); });

        AssertSameJson("""{"999":"a","8":"b","-3":"c"}""", Encoding.UTF8.GetString(_converter.CborToJson(cbor, out _)));
    }

    [Fact]
    public void CborToJson_IntegerKeysAtEveryLevel()
    {
        var json = """{"rooms":{"join":{"!r:x":{"timeline":{"events":[{"event_id":"$e","content":{"body":"hi"}}],"limited":false}}}}}""";
        var cbor = _converter.JsonToCbor(Encoding.UTF8.GetBytes(json), integerKeys: true);

        var hex = Convert.ToHexStringLower(cbor);
        foreach (var key in new[] { "rooms", "join", "timeline", "events", "event_id", "content", "body", "limited" })
        {
            Assert.DoesNotContain(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(key)), hex);
        }

        Assert.Contains(Convert.ToHexStringLower("!r:x"u8), hex);
        AssertSameJson(json, Encoding.UTF8.GetString(_converter.CborToJson(cbor, out _)));
    }

    [Fact]
    public void CborToJson_IndefiniteLengths_Accepted()
    {
        // {_ "body": (_ "Hel", "lo") , 2: [_ 1, 2]} with indefinite map, text and array.
        var cbor = Convert.FromHexString("bf64626f64797f6348656c626c6fff029f0102ffff");

        AssertSameJson("""{"body":"Hello","type":[1,2]}""", Encoding.UTF8.GetString(_converter.CborToJson(cbor, out _)));
    }

    [Fact]
    public void CborToJson_ByteStrings_AsBase64()
    {
        var cbor = Encode(w => { w.WriteStartMap(1); w.WriteTextString("k"); w.WriteByteString([1, 2, 3, 255]); w.WriteEndMap(); });

        AssertSameJson("""{"k":"AQID/w=="}""", Encoding.UTF8.GetString(_converter.CborToJson(cbor, out _)));
    }

    [Theory]
    [InlineData("", "malformed")]
    [InlineData("a1", "malformed")]
    [InlineData("a16161", "malformed")]
    [InlineData("ff", "malformed")]
    [InlineData("a1f54161", "map key must be a text string or an integer")]
    [InlineData("a1616b", "malformed")]
    [InlineData("a2616b01616b02", "twice")]
    [InlineData("a2010101 02", "twice")]
    [InlineData("a10101 00", "after its first item")]
    [InlineData("f97e00", "NaN")]
    [InlineData("c249010000000000000000", "big or decimal number")]
    [InlineData("f0", "simple value")]
    [InlineData("5f41", "malformed")]
    [InlineData("a1616162c328", "not valid UTF-8")] // {"a": "b\xc3("}: a lone lead byte
    [InlineData("a162c3286161", "not valid UTF-8")] // the same in a key
    [InlineData("a161617f6162 62c328 ff", "not valid UTF-8")] // in a chunk of an indefinite-length string
    [InlineData("a16161 63eda080", "not valid UTF-8")] // an encoded surrogate (CESU-8)
    [InlineData("a16161f7", "undefined")]
    [InlineData("a16161 1b0020000000000000", "outside")] // 2^53
    [InlineData("a16161 3b001fffffffffffff", "outside")] // -2^53
    [InlineData("a16161 1bffffffffffffffff", "outside")] // 2^64-1
    [InlineData("a16161 fb4340000000000000", "outside")] // 2^53 as a float (lb writes every number as one)
    [InlineData("a16161 fb7fefffffffffffff", "outside")] // the largest double
    public void CborToJson_Malformed_RefusedWithReason(string hex, string reason)
    {
        var error = Assert.Throws<CborConversionException>(() => _converter.CborToJson(Convert.FromHexString(hex.Replace(" ", "")), out _));

        Assert.Contains(reason, error.Message);
    }

    [Theory]
    [InlineData("a16161 1b001fffffffffffff", """{"a":9007199254740991}""")]
    [InlineData("a16161 3b001ffffffffffffe", """{"a":-9007199254740991}""")]
    [InlineData("a16161 fbc33fffffffffffff", """{"a":-9007199254740991}""")]
    [InlineData("a16161 fb4000cccccccccccd", """{"a":2.1}""")]
    [InlineData("a16161 67f09f9883e282ac", """{"a":"\ud83d\ude03\u20ac"}""")]
    public void CborToJson_EdgesOfWhatJsonHolds_Converted(string hex, string json)
    {
        AssertSameJson(json, Encoding.UTF8.GetString(_converter.CborToJson(Convert.FromHexString(hex.Replace(" ", "")), out _)));
    }

    [Fact]
    public void CborToJson_NestingBomb_RefusedAtDepthLimit()
    {
        var bomb = Enumerable.Repeat((byte)0x81, 100_000).Append((byte)0x00).ToArray();

        var error = Assert.Throws<CborConversionException>(() => _converter.CborToJson(bomb, out _));

        Assert.Contains("nested deeper than 32 levels", error.Message);
    }

    [Fact]
    public void CborToJson_NestingBombInsideAMap_RefusedAtDepthLimit()
    {
        // {"a": [[[[…1 000 000 levels…]]]]}: the key pre-scan of the map skips the value without recursing.
        var bomb = new byte[] { 0xa1, 0x61, 0x61 }.Concat(Enumerable.Repeat((byte)0x81, 1_000_000)).Append((byte)0x00).ToArray();

        var error = Assert.Throws<CborConversionException>(() => _converter.CborToJson(bomb, out _));

        Assert.Contains("nested deeper than 32 levels", error.Message);
    }

    [Fact]
    public void CborToJson_BigMap_ConvertedAndItsDuplicateFound()
    {
        var big = Encode(w => { w.WriteStartMap(5000); for (var i = 0; i < 5000; i++) { w.WriteTextString($"@user{i}:example.org"); w.WriteInt32(i); } w.WriteEndMap(); });
        var duplicate = Encode(w => { w.WriteStartMap(5000); for (var i = 0; i < 5000; i++) { w.WriteTextString($"@user{(i == 4999 ? 17 : i)}:example.org"); w.WriteInt32(i); } w.WriteEndMap(); });

        using var json = JsonDocument.Parse(_converter.CborToJson(big, out _));
        Assert.Equal(4999, json.RootElement.GetProperty("@user4999:example.org").GetInt32());
        Assert.Equal(5000, json.RootElement.EnumerateObject().Count());
        Assert.Contains("twice", Assert.Throws<CborConversionException>(() => _converter.CborToJson(duplicate, out _)).Message);
    }

    [Fact]
    public void CborToJson_TextKeyTwiceAfterAnIntegerKey_Refused()
    {
        var cbor = Encode(w => { w.WriteStartMap(3); w.WriteInt32(1); w.WriteInt32(1); w.WriteTextString("event_id"); w.WriteInt32(2); w.WriteTextString("event_id"); w.WriteInt32(3); w.WriteEndMap(); });

        Assert.Contains("twice", Assert.Throws<CborConversionException>(() => _converter.CborToJson(cbor, out _)).Message);
    }

    [Fact]
    public void CborToJson_IndefiniteNestingBomb_RefusedAtDepthLimit()
    {
        var bomb = Enumerable.Repeat((byte)0x9f, 100_000).ToArray();

        var error = Assert.Throws<CborConversionException>(() => _converter.CborToJson(bomb, out _));

        Assert.Contains("nested deeper than", error.Message);
    }

    [Fact]
    public void CborToJson_ItemFlood_RefusedAtItemLimit()
    {
        // An array announcing 20 000 small items: within the size of a few blocks, beyond the item limit.
        var flood = new byte[] { 0x99, 0x4e, 0x20 }.Concat(Enumerable.Repeat((byte)0x00, 20_000)).ToArray();

        var error = Assert.Throws<CborConversionException>(() => _converter.CborToJson(flood, out _));

        Assert.Contains("more than 10000 items", error.Message);
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("{", "not valid JSON")]
    [InlineData("{\"a\":1}{}", "not valid JSON")]
    [InlineData("[1,2", "not valid JSON")]
    [InlineData("{\"a\":1,\"a\":2}", "cannot be represented")]
    public void JsonToCbor_Malformed_RefusedWithReason(string json, string reason)
    {
        var error = Assert.Throws<CborConversionException>(() => _converter.JsonToCbor(Encoding.UTF8.GetBytes(json), integerKeys: true));

        Assert.Contains(reason, error.Message);
    }

    [Fact]
    public void JsonToCbor_DeepJson_RefusedAtDepthLimit()
    {
        var deep = new string('[', 40) + new string(']', 40);

        Assert.Throws<CborConversionException>(() => _converter.JsonToCbor(Encoding.UTF8.GetBytes(deep), integerKeys: true));
    }

    private static byte[] Encode(Action<CborWriter> write)
    {
        var writer = new CborWriter(CborConformanceMode.Lax);
        write(writer);
        return writer.Encode();
    }

    private static void AssertSameJson(string expected, string actual)
    {
        using var e = JsonDocument.Parse(expected);
        using var a = JsonDocument.Parse(actual);
        Assert.True(JsonElement.DeepEquals(e.RootElement, a.RootElement), $"expected {expected}\nactual   {actual}");
    }
}
