using System.Text;
using System.Text.Json;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Tests.Policy;

/// <summary>Canonical JSON, checked with the examples of the spec's appendix and the escapes its grammar allows.</summary>
public sealed class CanonicalJsonTests
{
    private static string Canonical(string json, params string[] omit)
    {
        using var document = JsonDocument.Parse(json);
        using var output = new PooledBufferWriter(16);
        CanonicalJson.Write(output, document.RootElement, omit);
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    [Theory]
    [InlineData("{}", "{}")]
    [InlineData("""{"one": 1, "two": "Two"}""", """{"one":1,"two":"Two"}""")]
    [InlineData("""{"b": "2", "a": "1"}""", """{"a":"1","b":"2"}""")]
    [InlineData("""{"b":"2","a":"1"}""", """{"a":"1","b":"2"}""")]
    [InlineData(
        """{ "auth": { "success": true, "mxid": "@john.doe:example.com", "profile": { "display_name": "John Doe", "three_pids": [ { "medium": "email", "address": "john.doe@example.org" }, { "medium": "msisdn", "address": "123456789" } ] } } }""",
        """{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}""")]
    [InlineData("""{"a": "日本語"}""", """{"a":"日本語"}""")]
    [InlineData("""{"本": 2, "日": 1}""", """{"日":1,"本":2}""")]
    [InlineData("""{"a": "\u65E5"}""", """{"a":"日"}""")]
    [InlineData("""{"a": null}""", """{"a":null}""")]
    [InlineData("""{"a": -0, "b": 1e10}""", """{"a":0,"b":10000000000}""")]
    public void SpecExamples(string input, string expected) => Assert.Equal(expected, Canonical(input));

    [Theory]
    // Short escapes where JSON has them, \u00xx in lower case for the other controls, nothing else escaped.
    [InlineData("""["\b\f\n\r\t\"\\"]""", """["\b\f\n\r\t\"\\"]""")]
    [InlineData("""["\u0000\u000B\u001F\u007F"]""", "[\"\\u0000\\u000b\\u001f\u007f\"]")]
    [InlineData("""["\/", "\u00e9", "\u2028"]""", "[\"/\",\"é\",\"\u2028\"]")]
    [InlineData("""[9007199254740991, -9007199254740991, 1.0, 100E-2]""", "[9007199254740991,-9007199254740991,1,1]")]
    [InlineData("""[true, false, [], {}, [[]]]""", """[true,false,[],{},[[]]]""")]
    public void Escapes_AndNumbers(string input, string expected) => Assert.Equal(expected, Canonical(input));

    [Fact]
    public void MemberNames_SortByCodePoint_NotByUtf16Unit()
    {
        // U+1F600 is a surrogate pair in UTF-16 (0xD83D…), which ordinal string order puts before U+FF21.
        Assert.Equal("{\"\uFF21\":1,\"\U0001F600\":2}", Canonical("{\"\U0001F600\":2,\"\uFF21\":1}"));
    }

    [Fact]
    public async Task MatchesPythonsEncoding_AsSynapsesCanonicaljsonWritesIt()
    {
        // Synapse's canonicaljson is json.dumps with sorted keys, no blanks and ensure_ascii off: an independent
        // implementation of the same rules, fed a document with every case above mixed together (no exponents:
        // Python reads 1e3 as a float, which the spec example above covers).
        const string Document = """
            {"z": [1, -0, 9007199254740991, {"b": null, "a": true}], "\u00e9t\u00e9": "caf\u00e9 \ud83d\ude00",
             "ctrl": "\u0000\u0001\b\t\n\u000b\f\r\u001f \u007f \u2028 \"q\" \\\\ /", "\uff21": {}, "\ud83d\ude00": [],
             "": "", "A": "upper", "a": "lower", "nested": {"y": {"x": [[], [{}]]}}}
            """;
        var python = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("python3",
            ["-c", "import json,sys; sys.stdout.buffer.write(json.dumps(json.loads(sys.stdin.buffer.read()), ensure_ascii=False, separators=(',', ':'), sort_keys=True).encode('utf-8'))"])
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, StandardOutputEncoding = Encoding.UTF8,
        });
        Assert.SkipWhen(python is null, "python3 is not installed");
        await python!.StandardInput.WriteAsync(Document);
        python.StandardInput.Close();
        var expected = await python.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await python.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.Equal(0, python.ExitCode);
        Assert.Equal(expected, Canonical(Document));
    }

    [Fact]
    public void TopLevelMembers_CanBeLeftOut_AsSigningDoes()
    {
        Assert.Equal("""{"a":{"signatures":1},"b":2}""", Canonical("""{"signatures":{"x":{}},"b":2,"unsigned":{},"a":{"signatures":1}}""", "signatures", "unsigned"));
    }
}
