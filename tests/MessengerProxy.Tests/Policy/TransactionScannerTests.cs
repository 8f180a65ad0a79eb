using System.Text;
using MessengerProxy.Federation;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Tests.Policy;

/// <summary>
/// The streaming scan of federation transactions: every server name a PDU or EDU names reaches the filter, decoded as
/// the homeserver decodes it, whatever the member order; anything it cannot vouch for is malformed, never clean.
/// </summary>
public sealed class TransactionScannerTests
{
    private static readonly Listed s_listed = new("listed.example", "partner.example.org");

    private static TransactionScan Scan(string json) => TransactionScanner.Scan(Encoding.UTF8.GetBytes(json), s_listed);

    private static string Pdu(string sender, string type = "m.room.message", string? stateKey = null, string extra = "") =>
        $$"""{"room_id":"!r:listed.example","sender":"{{sender}}","type":"{{type}}",{{(stateKey is null ? "" : $"\"state_key\":\"{stateKey}\",")}}"content":{"body":"hi"},"depth":3{{extra}}}""";

    private static string Transaction(string pdus = "", string edus = "", string origin = "listed.example") =>
        $$"""{"origin":"{{origin}}","origin_server_ts":1,"pdus":[{{pdus}}],"edus":[{{edus}}]}""";

    private static void AssertUnlisted(TransactionScan scan, string serverName, string field)
    {
        Assert.Equal(TransactionScanVerdict.Unlisted, scan.Verdict);
        Assert.Equal(serverName, scan.ServerName);
        Assert.Equal(field, scan.Field);
    }

    private static void AssertMalformed(TransactionScan scan, string? field, string problem)
    {
        Assert.Equal(TransactionScanVerdict.Malformed, scan.Verdict);
        Assert.Equal(field, scan.Field);
        Assert.Contains(problem, scan.Problem);
    }

    [Fact]
    public void ListedOnly_EveryKindOfPduAndEdu_IsClean()
    {
        var scan = Scan(Transaction(
            Pdu("@a:listed.example") + "," + Pdu("@b:LISTED.example:8448", "m.room.member", "@c:partner.example.org") + "," + Pdu("@d:partner.example.org", extra: ",\"origin\":\"partner.example.org\""),
            """
            {"edu_type":"m.typing","content":{"room_id":"!r:listed.example","user_id":"@a:listed.example","typing":true}},
            {"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{"@a:listed.example":{"event_ids":["$e"],"data":{"ts":1}}}}}},
            {"edu_type":"m.presence","content":{"push":[{"user_id":"@a:listed.example","presence":"online","last_active_ago":5}]}},
            {"edu_type":"m.device_list_update","content":{"user_id":"@a:listed.example","device_id":"D","stream_id":1}},
            {"edu_type":"m.signing_key_update","content":{"user_id":"@a:listed.example"}},
            {"edu_type":"m.direct_to_device","content":{"sender":"@a:listed.example","type":"m.room_key_request","message_id":"m","messages":{"@b:partner.example.org":{"*":{}}}}}
            """));

        Assert.Equal(new TransactionScan(TransactionScanVerdict.Clean, 3, 6), scan);
    }

    [Theory]
    [InlineData("pdus", """{"sender":"@mallory:evil.example","type":"m.room.message","content":{}}""", "evil.example", "pdus[0].sender")]
    [InlineData("pdus", """{"sender":"@a:listed.example","origin":"evil.example","type":"m.room.message"}""", "evil.example", "pdus[0].origin")]
    [InlineData("pdus", """{"sender":"@a:listed.example","type":"m.room.member","state_key":"@m:evil.example:8448","content":{"membership":"invite"}}""", "evil.example:8448", "pdus[0].state_key")]
    [InlineData("edus", """{"edu_type":"m.typing","content":{"room_id":"!r:listed.example","user_id":"@m:evil.example","typing":true}}""", "evil.example", "edus[0].content.user_id")]
    [InlineData("edus", """{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{"@a:listed.example":{},"@m:evil.example":{"data":{"ts":1}}}}}}""", "evil.example", "edus[0].content.{room}.{receipt type}")]
    [InlineData("edus", """{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{}},"!s:listed.example":{"m.read.private":{"@m:evil.example":{}}}}}""", "evil.example", "edus[0].content.{room}.{receipt type}")]
    [InlineData("edus", """{"edu_type":"m.presence","content":{"push":[{"user_id":"@a:listed.example"},{"presence":"online","user_id":"@m:evil.example"}]}}""", "evil.example", "edus[0].content.push[].user_id")]
    [InlineData("edus", """{"edu_type":"m.device_list_update","content":{"device_id":"D","user_id":"@m:evil.example"}}""", "evil.example", "edus[0].content.user_id")]
    [InlineData("edus", """{"edu_type":"m.signing_key_update","content":{"user_id":"@m:evil.example"}}""", "evil.example", "edus[0].content.user_id")]
    [InlineData("edus", """{"edu_type":"m.direct_to_device","content":{"sender":"@m:evil.example","messages":{}}}""", "evil.example", "edus[0].content.sender")]
    [InlineData("edus", """{"edu_type":"m.direct_to_device","content":{"sender":"@a:listed.example","messages":{"@b:listed.example":{"D":{}},"@m:evil.example":{"*":{"k":1}}}}}""", "evil.example", "edus[0].content.messages")]
    public void AnUnlistedServerAnywhere_IsFoundWithItsField(string where, string item, string serverName, string field)
    {
        var scan = Scan(where == "pdus" ? Transaction(pdus: item) : Transaction(edus: item));

        AssertUnlisted(scan, serverName, field);
    }

    [Fact]
    public void TransactionOrigin_Unlisted_IsFound() =>
        AssertUnlisted(Scan(Transaction(origin: "evil.example")), "evil.example", "origin");

    [Fact]
    public void LaterPdusAndEdus_AreNamedByTheirIndex()
    {
        var scan = Scan(Transaction(Pdu("@a:listed.example") + "," + Pdu("@b:listed.example") + "," + Pdu("@m:evil.example"),
            """{"edu_type":"m.typing","content":{"user_id":"@m:evil.example"}}"""));

        AssertUnlisted(scan, "evil.example", "pdus[2].sender");
        Assert.Equal(2, scan.Pdus);
    }

    [Theory]
    [InlineData("""{"state_key":"@m:evil.example","content":{"membership":"join"},"type":"m.room.member","sender":"@a:listed.example"}""")]
    [InlineData("""{"type":"m.room.\u006dember","sender":"@a:listed.example","state_key":"@m:evil.example"}""")]
    [InlineData("""{"type":"m.room.member","sender":"@a:listed.example","st\u0061te_key":"@m:evil.example"}""")]
    public void MemberEventStateKey_IsCheckedWhateverTheOrderAndEscapes(string pdu) =>
        AssertUnlisted(Scan(Transaction(pdu)), "evil.example", "pdus[0].state_key");

    [Theory]
    [InlineData("m.room.message")]
    [InlineData("org.example.custom")]
    [InlineData("m.room.power_levels")]
    public void StateKeyOfOtherEvents_IsNoUserId(string type) =>
        Assert.Equal(TransactionScanVerdict.Clean, Scan(Transaction(Pdu("@a:listed.example", type, "@m:evil.example"))).Verdict);

    [Fact]
    public void EduContentBeforeItsType_IsStillChecked() =>
        AssertUnlisted(Scan(Transaction(edus: """{"content":{"user_id":"@m:evil.example"},"edu_type":"m.typing"}""")), "evil.example", "edus[0].content.user_id");

    [Theory]
    [InlineData("""{"edu_type":"org.example.custom","content":{"user_id":"@m:evil.example"}}""")]
    [InlineData("""{"edu_type":"m.typing"}""")]
    [InlineData("""{"edu_type":"m.typing","content":{"room_id":"!r:evil.example","user_id":"@a:listed.example","typing":false}}""")]
    public void UnknownEduTypesAndRoomIds_NameNothingChecked(string edu) =>
        Assert.Equal(TransactionScanVerdict.Clean, Scan(Transaction(edus: edu)).Verdict);

    [Theory]
    // JSON escapes are decoded as the homeserver's JSON parser decodes them...
    [InlineData("""{"sender":"\u0040mallory:evil.example"}""", "evil.example")]
    [InlineData("""{"sender":"@mallory:\u0065vil.example"}""", "evil.example")]
    [InlineData("""{"s\u0065nder":"@mallory:evil.example"}""", "evil.example")]
    [InlineData("""{"sender":"@mallory\u003aevil.example"}""", "evil.example")]
    [InlineData("""{"sender":"@m\u00e4llory:evil.example"}""", "evil.example")]
    public void EscapedStrings_AreDecodedBeforeTheyAreChecked(string pdu, string serverName) =>
        AssertUnlisted(Scan(Transaction(pdu)), serverName, "pdus[0].sender");

    [Theory]
    // ...while percent-escapes mean nothing in JSON: such a value is no server name, so nothing can be vouched for.
    [InlineData("""{"sender":"@mallory:evil%2Eexample"}""")]
    [InlineData("""{"sender":"@mallory%3Aevil.example"}""")]
    [InlineData("""{"sender":"mallory:evil.example"}""")]
    [InlineData("""{"sender":"@:evil.example"}""")]
    [InlineData("""{"sender":"@mallory:evil..example"}""")]
    [InlineData("""{"sender":"@mallory:evil.example:99999"}""")]
    [InlineData("""{"sender":"@mallory:\u212Aey.example"}""")]
    [InlineData("""{"sender":"@mallory:ev\u0000il.example"}""")]
    public void ValuesThatAreNoUserId_AreMalformed(string pdu) =>
        AssertMalformed(Scan(Transaction(pdu)), "pdus[0].sender", "not a Matrix user ID");

    [Fact]
    public void AnEscapedLoneSurrogate_IsMalformed() =>
        AssertMalformed(Scan(Transaction("""{"sender":"@\ud800:listed.example"}""")), "pdus[0].sender", "not a Matrix user ID");

    [Fact]
    public void AnOverlongUserId_IsMalformed() =>
        AssertMalformed(Scan(Transaction($$"""{"sender":"@{{new string('a', 2000)}}:listed.example"}""")), "pdus[0].sender", "not a Matrix user ID");

    [Theory]
    [InlineData("""{"sender":"@a:listed.example","sender":"@m:evil.example"}""", "pdus[0].sender")]
    [InlineData("""{"sender":"@a:listed.example","s\u0065nder":"@m:evil.example"}""", "pdus[0].sender")]
    [InlineData("""{"type":"m.room.member","type":"m.room.message","state_key":"@m:evil.example"}""", "pdus[0].type")]
    [InlineData("""{"type":"m.room.member","state_key":"@a:listed.example","state_key":"@m:evil.example"}""", "pdus[0].state_key")]
    [InlineData("""{"origin":"listed.example","origin":"evil.example"}""", "pdus[0].origin")]
    public void RepeatedMembersOfAPdu_AreMalformed(string pdu, string field) =>
        AssertMalformed(Scan(Transaction(pdu)), field, "repeated");

    [Theory]
    [InlineData("""{"edu_type":"org.example.custom","edu_type":"m.typing","content":{"user_id":"@m:evil.example"}}""", "edus[0].edu_type")]
    [InlineData("""{"edu_type":"m.typing","content":{"user_id":"@a:listed.example"},"content":{"user_id":"@m:evil.example"}}""", "edus[0].content")]
    public void RepeatedMembersOfAnEdu_AreMalformed(string edu, string field) =>
        AssertMalformed(Scan(Transaction(edus: edu)), field, "repeated");

    [Theory]
    [InlineData("""{"origin":"listed.example","pdus":[],"pdus":[{"sender":"@m:evil.example"}]}""", "pdus")]
    [InlineData("""{"origin":"listed.example","edus":[],"edus":[]}""", "edus")]
    [InlineData("""{"origin":"listed.example","origin":"evil.example","pdus":[]}""", "origin")]
    public void RepeatedMembersOfTheTransaction_AreMalformed(string json, string field) =>
        AssertMalformed(Scan(json), field, "repeated");

    [Fact]
    public void RepeatedUserIdsInAnEdu_AreEachChecked() =>
        AssertUnlisted(Scan(Transaction(edus: """{"edu_type":"m.typing","content":{"user_id":"@a:listed.example","user_id":"@m:evil.example"}}""")),
            "evil.example", "edus[0].content.user_id");

    [Theory]
    [InlineData("[]", null, "must be a JSON object")]
    [InlineData("\"pdus\"", null, "must be a JSON object")]
    [InlineData("""{"pdus":{}}""", "pdus", "must be an array")]
    [InlineData("""{"edus":"none"}""", "edus", "must be an array")]
    [InlineData("""{"pdus":[{"sender":"@a:listed.example"},7]}""", "pdus[1]", "must be an object")]
    [InlineData("""{"pdus":[{"sender":7}]}""", "pdus[0].sender", "not a Matrix user ID")]
    [InlineData("""{"pdus":[{"sender":{"user":"@m:evil.example"}}]}""", "pdus[0].sender", "not a Matrix user ID")]
    [InlineData("""{"pdus":[{"type":["m.room.member"]}]}""", "pdus[0].type", "must be a string")]
    [InlineData("""{"pdus":[{"type":"m.room.member","state_key":{"k":"@m:evil.example"}}]}""", "pdus[0].state_key", "not a Matrix user ID")]
    [InlineData("""{"origin":7}""", "origin", "not a Matrix server name")]
    [InlineData("""{"origin":"evil example"}""", "origin", "not a Matrix server name")]
    [InlineData("""{"edus":[{"edu_type":"m.typing","content":["@m:evil.example"]}]}""", "edus[0].content", "must be an object")]
    [InlineData("""{"edus":[{"edu_type":7,"content":{}}]}""", "edus[0].edu_type", "must be a string")]
    [InlineData("""{"edus":[{"edu_type":"m.presence","content":{"push":{"user_id":"@m:evil.example"}}}]}""", "edus[0].content.push", "must be an array")]
    [InlineData("""{"edus":[{"edu_type":"m.presence","content":{"push":["@m:evil.example"]}}]}""", "edus[0].content.push", "must be an array")]
    [InlineData("""{"edus":[{"edu_type":"m.receipt","content":{"!r:listed.example":["@m:evil.example"]}}]}""", "edus[0].content", "receipt types")]
    [InlineData("""{"edus":[{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":["@m:evil.example"]}}}]}""", "edus[0].content.{room}.{receipt type}", "keyed by user ID")]
    [InlineData("""{"edus":[{"edu_type":"m.direct_to_device","content":{"messages":["@m:evil.example"]}}]}""", "edus[0].content.messages", "keyed by user ID")]
    [InlineData("""{"edus":[{"edu_type":"m.typing","content":{"user_id":null}}]}""", "edus[0].content.user_id", "not a Matrix user ID")]
    public void WrongShapes_AreMalformed(string json, string? field, string problem) =>
        AssertMalformed(Scan(json), field, problem);

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("""{"pdus":[}""")]
    [InlineData("""{"pdus":[{"sender":"@a:listed.example",}]}""")]
    [InlineData("{'pdus':[]}")]
    public void NotJson_IsNotJson(string json) =>
        Assert.Equal(TransactionScanVerdict.NotJson, Scan(json).Verdict);

    [Fact]
    public void DeepContent_WithinTheBodyStagesDepthLimit_IsSkipped()
    {
        var deep = new string('[', 120) + new string(']', 120);
        var scan = Scan(Transaction(Pdu("@a:listed.example", extra: $",\"unsigned\":{{\"x\":{deep}}}")));

        Assert.Equal(TransactionScanVerdict.Clean, scan.Verdict);
    }

    [Fact]
    public void FiftyPdusOf64KiB_AreScannedWhole()
    {
        var filler = new string('x', 64 * 1024 - 200);
        var pdus = string.Join(",", Enumerable.Range(0, 49).Select(_ => Pdu("@a:listed.example", extra: $",\"unsigned\":{{\"pad\":\"{filler}\"}}")));
        var scan = Scan(Transaction(pdus + "," + Pdu("@m:evil.example", extra: $",\"unsigned\":{{\"pad\":\"{filler}\"}}")));

        AssertUnlisted(scan, "evil.example", "pdus[49].sender");
    }

    [Fact]
    public void AListedTransaction_AllocatesNothing()
    {
        var json = Encoding.UTF8.GetBytes(Transaction(
            string.Join(",", Enumerable.Range(0, 50).Select(i => Pdu(i % 2 == 0 ? "@a:listed.example" : "@b:partner.example.org:8448", "m.room.member", "@c:listed.example"))),
            """{"edu_type":"m.receipt","content":{"!r:listed.example":{"m.read":{"@a:listed.example":{"data":{"ts":1}}}}}},{"edu_type":"m.direct_to_device","content":{"sender":"@a:listed.example","messages":{"@b:listed.example":{"*":{}}}}}"""));
        // Warmed up first: the runtime's first calls of shared generic code fill lookup tables on the heap.
        for (var i = 0; i < 100; i++)
        {
            Assert.Equal(TransactionScanVerdict.Clean, TransactionScanner.Scan(json, s_listed).Verdict);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var scan = TransactionScanner.Scan(json, s_listed);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(new TransactionScan(TransactionScanVerdict.Clean, 50, 2), scan);
        Assert.Equal(0, allocated);
    }

    /// <summary>The proxy's federation list, judged as its cache judges it: hosts in any case, with or without port.</summary>
    private sealed class Listed(params string[] hosts) : IServerNameFilter
    {
        private readonly FederationList _list = new(1, hosts.Select(h => new FederationDomain(h, "telematik-" + h)));

        public bool Allows(ReadOnlySpan<char> serverName) => ServerNames.TryGetHost(serverName, out var host) && _list.Contains(host);
    }
}
