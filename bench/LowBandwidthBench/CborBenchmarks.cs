using System.Text;
using BenchmarkDotNet.Attributes;
using MessengerProxy.LowBandwidth.Cbor;

namespace MessengerProxy.LowBandwidthBench;

/// <summary>
/// CBOR ⇄ JSON conversion of a realistic /sync answer (a joined room with 200 timeline events and state),
/// the largest document the front door converts on a busy path. Throughput in MB/s of JSON is
/// JSON bytes / mean time; both directions, with and without the integer key table.
/// </summary>
[MemoryDiagnoser]
public class CborBenchmarks
{
    private readonly CborJsonConverter _converter = new(CborKeyTable.V1);
    private byte[] _json = [];
    private byte[] _cborKeys = [];
    private byte[] _cborText = [];

    public static byte[] SyncJson(int events)
    {
        var builder = new StringBuilder("""{"next_batch":"s72594_4483_1934","rooms":{"join":{"!726s6s6q:example.com":{"state":{"events":[]},"timeline":{"limited":true,"prev_batch":"t34-23535_0_0","events":[""");
        for (var i = 0; i < events; i++)
        {
            if (i > 0)
            {
                builder.Append(',');
            }

            builder.Append($$$"""{"content":{"body":"This is message number {{{i}}} of the benchmark, about as long as a chat line.","msgtype":"m.text","format":"org.matrix.custom.html","formatted_body":"<b>message</b> {{{i}}}"},"event_id":"$143273582443PhrSn{{{i}}}:example.org","origin_server_ts":{{{1432735824653L + i}}},"room_id":"!726s6s6q:example.com","sender":"@example{{{i % 7}}}:example.org","type":"m.room.message","unsigned":{"age":{{{1234 + i}}},"transaction_id":"m1234{{{i}}}"}}""");
        }

        builder.Append("""]},"ephemeral":{"events":[{"content":{"user_ids":["@alice:matrix.org","@bob:example.com"]},"type":"m.typing"}]},"account_data":{"events":[{"content":{"tags":{"u.work":{"order":0.9}}},"type":"m.tag"}]}}}},"presence":{"events":[{"content":{"avatar_url":"mxc://localhost/wefuiwegh8742w","currently_active":false,"last_active_ago":2478593,"presence":"online","status_msg":"Making cupcakes"},"sender":"@example:localhost","type":"m.presence"}]}}""");
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    [GlobalSetup]
    public void Setup()
    {
        _json = SyncJson(200);
        _cborKeys = _converter.JsonToCbor(_json, integerKeys: true);
        _cborText = _converter.JsonToCbor(_json, integerKeys: false);
        Console.WriteLine($"// sync JSON {_json.Length} bytes; CBOR with integer keys {_cborKeys.Length} bytes, with text keys {_cborText.Length} bytes");
    }

    [Benchmark(Description = "JSON → CBOR, integer keys")]
    public byte[] JsonToCborKeys() => _converter.JsonToCbor(_json, integerKeys: true);

    [Benchmark(Description = "JSON → CBOR, text keys")]
    public byte[] JsonToCborText() => _converter.JsonToCbor(_json, integerKeys: false);

    [Benchmark(Description = "CBOR → JSON, integer keys")]
    public byte[] CborKeysToJson() => _converter.CborToJson(_cborKeys, out _);

    [Benchmark(Description = "CBOR → JSON, text keys")]
    public byte[] CborTextToJson() => _converter.CborToJson(_cborText, out _);
}
