using System.Text;
using BenchmarkDotNet.Attributes;
using MessengerProxy.Federation;
using MessengerProxy.Policy.Federation;

/// <summary>
/// The cost of reading a federation transaction for its server names (<see cref="TransactionScanner"/>) against a
/// 100 000-domain list: a typical small transaction, Synapse's largest (50 PDUs of 64 KiB plus EDUs), and the same
/// with every PDU a member event (two names each).
/// </summary>
[MemoryDiagnoser]
public class TransactionScanBenchmarks
{
    private FederationList _list = null!;
    private byte[] _small = null!;
    private byte[] _largest = null!;
    private byte[] _members = null!;

    [GlobalSetup]
    public void Setup()
    {
        _list = Lists.Create(100_000, version: 1);
        _small = Transaction(1, 0, edus: 3);
        _largest = Transaction(50, 64 * 1024 - 300, edus: 100);
        _members = Transaction(50, 0, edus: 0, member: true);
        foreach (var json in new[] { _small, _largest, _members })
        {
            if (TransactionScanner.Scan(json, new ListFilter(_list)).Verdict != TransactionScanVerdict.Clean)
            {
                throw new InvalidOperationException("the benchmark transactions must be clean");
            }
        }
    }

    [Benchmark(Description = "1 PDU + 3 EDUs (~1 KB)")]
    public int Small() => TransactionScanner.Scan(_small, new ListFilter(_list)).Pdus;

    [Benchmark(Description = "50 PDUs x 64 KiB + 100 EDUs (3.3 MB)")]
    public int Largest() => TransactionScanner.Scan(_largest, new ListFilter(_list)).Pdus;

    [Benchmark(Description = "50 member events (sender + state_key)")]
    public int Members() => TransactionScanner.Scan(_members, new ListFilter(_list)).Pdus;

    private static byte[] Transaction(int pdus, int padding, int edus, bool member = false)
    {
        var pad = new string('x', padding);
        var pduList = Enumerable.Range(0, pdus).Select(i => member
            ? $$"""{"room_id":"!r:host1.example-provider.de","sender":"@u{{i}}:host{{i}}.example-provider.de","type":"m.room.member","state_key":"@v{{i}}:host{{i + 7}}.example-provider.de:8448","content":{"membership":"invite"},"depth":{{i}},"prev_events":["$a","$b"],"auth_events":["$c"],"hashes":{"sha256":"abc"},"signatures":{"host{{i}}.example-provider.de":{"ed25519:a":"sig"} } }"""
            : $$"""{"room_id":"!r:host1.example-provider.de","sender":"@u{{i}}:host{{i}}.example-provider.de","type":"m.room.message","content":{"msgtype":"m.text","body":"{{pad}}"},"depth":{{i}},"prev_events":["$a","$b"],"auth_events":["$c"],"hashes":{"sha256":"abc"},"signatures":{"host{{i}}.example-provider.de":{"ed25519:a":"sig"} } }""");
        var kinds = new[]
        {
            """{"edu_type":"m.typing","content":{"room_id":"!r:host1.example-provider.de","user_id":"@u1:host1.example-provider.de","typing":true}}""",
            """{"edu_type":"m.receipt","content":{"!r:host1.example-provider.de":{"m.read":{"@u1:host1.example-provider.de":{"event_ids":["$e"],"data":{"ts":1}}}}}}""",
            """{"edu_type":"m.direct_to_device","content":{"sender":"@u1:host1.example-provider.de","type":"m.room_key_request","message_id":"m","messages":{"@u2:host2.example-provider.de":{"*":{"k":"v"}}}}}""",
        };
        var eduList = Enumerable.Range(0, edus).Select(i => kinds[i % kinds.Length]);
        return Encoding.UTF8.GetBytes($$"""{"origin":"host1.example-provider.de","origin_server_ts":1,"pdus":[{{string.Join(",", pduList)}}],"edus":[{{string.Join(",", eduList)}}]}""");
    }

    // As the proxy judges names (FederationListCache.Check): the host, without port, looked up in the list.
    private readonly struct ListFilter(FederationList list) : IServerNameFilter
    {
        public bool Allows(ReadOnlySpan<char> serverName) => ServerNames.TryGetHost(serverName, out var host) && list.Contains(host);
    }
}
