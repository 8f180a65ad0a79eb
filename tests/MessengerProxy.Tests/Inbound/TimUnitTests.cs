using System.Globalization;
using System.Text;
using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Inbound.Policies.Tim;
using MessengerProxy.Pipeline.Http;

namespace MessengerProxy.Tests.Inbound;

/// <summary>The parts of the TIM rules that need no proxy: the emoji test, the minimal JSON patch, the settings check.</summary>
public sealed class TimUnitTests
{
    private static readonly EmojiTable s_emoji = EmojiTable.Load();

    [Theory]
    [InlineData("👍")]
    [InlineData("👍\uFE0F")] // what Element sends: VS16 on an emoji that does not need it
    [InlineData("👍🏽")]
    [InlineData("❤️")]
    [InlineData("❤")] // unqualified: still the emoji
    [InlineData("1️⃣")]
    [InlineData("🇩🇪")]
    [InlineData("👨‍👩‍👧‍👦")]
    [InlineData("🧑🏿‍🤝‍🧑🏻")]
    [InlineData("🏴󠁧󠁢󠁳󠁣󠁴󠁿")] // tag sequence
    [InlineData("🫩")] // Emoji 16.0
    [InlineData("\U0001F6D8")] // Emoji 17.0
    [InlineData("\U0001F6D9")] // Emoji 18.0
    public void SingleEmoji_IsAccepted(string key) => Assert.True(s_emoji.IsSingleEmoji(key), key);

    [Theory]
    [InlineData("")]
    [InlineData("a")]
    [InlineData("1")]
    [InlineData("1\uFE0F")] // a digit asking for emoji presentation is no keycap
    [InlineData("#")]
    [InlineData("👍👍")]
    [InlineData("👍 ")]
    [InlineData(" 👍")]
    [InlineData("👍a")]
    [InlineData("❤\uFE0E")] // text presentation asked for
    [InlineData("\uFE0F")]
    [InlineData("🇩")] // a lone regional indicator
    [InlineData("🇩🇪🇩🇪")]
    [InlineData("+1")]
    [InlineData("\u200D")]
    [InlineData("\U0001FAFF")] // unassigned
    public void AnythingElse_IsNotOneEmoji(string key) => Assert.False(s_emoji.IsSingleEmoji(key), key);

    [Fact]
    public void EveryTableEntry_IsOneGraphemeClusterForTheRuntime()
    {
        // The grapheme count comes from the runtime, the emoji list from the table: they must agree on every entry.
        var lines = ReadTable();

        Assert.True(lines.Count > 5000, $"only {lines.Count} sequences");
        Assert.All(lines, line => Assert.Equal(1, new StringInfo(line).LengthInTextElements));
        Assert.All(lines, line => Assert.True(s_emoji.IsSingleEmoji(line), line));
    }

    public static TheoryData<string, bool, string, string> Rewrites => new()
    {
        { """{ "creation_content" : { } , "x" : 1.0e2 }""", true, "AddMember", """{"room_version":"10", "creation_content" : {"m.federate":false } , "x" : 1.0e2 }""" },
        { """{"creation_content":{"m.federate" : true ,"k":"😀"}}""", false, "Replace", """{"creation_content":{"m.federate" : false ,"k":"😀"}}""" },
        { """{"creation_content":{"m.federate":{"deep":[1,2]}}}""", false, "Replace", """{"creation_content":{"m.federate":false}}""" },
        { """{}""", true, "AddCreationContent", """{"room_version":"10","creation_content":{"m.federate":false}}""" },
        { """  {"a":"\u00e9"}  """, false, "AddCreationContent", """  {"creation_content":{"m.federate":false},"a":"\u00e9"}  """ },
        { """{"a":[]}""", true, "None", """{"room_version":"10","a":[]}""" },
    };

    [Theory]
    [MemberData(nameof(Rewrites))]
    public void CreateRoomRewrite_SplicesOnlyWhatChanges(string body, bool addVersion, string federate, string expected)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        using var document = JsonDocument.Parse(bytes.AsMemory(), BufferedRequestBody.DocumentOptions);
        var root = document.RootElement;
        var creationContent = root.TryGetProperty("creation_content", out var c) ? c : default;

        var (buffer, length) = TimContentPolicy.RewriteCreateRoom(bytes, root, addVersion ? "\"room_version\":\"10\""u8.ToArray() : null, Enum.Parse<FederateEdit>(federate), creationContent);

        Assert.Equal(expected, Encoding.UTF8.GetString(buffer, 0, length));
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
    }

    [Fact]
    public void Settings_Defaults_AreValid()
    {
        var options = new TimOptions();

        Assert.True(new TimOptionsValidator().Validate(null, options).Succeeded);
        Assert.Equal(["9", "10"], options.RoomVersions.EffectiveAllowed);
        Assert.Equal(TimeSpan.FromHours(24), options.RedactionWindow);
    }

    [Fact]
    public void Settings_UnknownNamesAndBadValues_AreRefusedNamingTheKey()
    {
        var options = new TimOptions
        {
            Overrides = new TimSwitches { Disabled = ["threads", "thread"] },
            Rules = new TimSwitches { Disabled = ["no-thread"] },
            RoomVersions = new TimRoomVersionOptions { Allowed = ["10", "Eleven"], Default = "9" },
            RedactionWindow = TimeSpan.Zero,
            MaxStatusMessageLength = 0,
        };

        var failures = new TimOptionsValidator().Validate(null, options).Failures!.ToList();

        Assert.Contains(failures, f => f.StartsWith("Tim:Overrides:Disabled:1 'thread' is not one of", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.StartsWith("Tim:Overrides:Disabled:0", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Tim:Rules:Disabled:0 'no-thread' is not one of", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Tim:RoomVersions:Allowed:1 is not a room version", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Tim:RoomVersions:Default must be one of the allowed versions 10, Eleven", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Tim:RedactionWindow must be positive", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Tim:MaxStatusMessageLength must be positive", StringComparison.Ordinal));
    }

    private static List<string> ReadTable()
    {
        using var stream = typeof(EmojiTable).Assembly.GetManifestResourceStream(EmojiTable.ResourceName)!;
        using var reader = new StreamReader(stream);
        var lines = new List<string>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0 && line[0] != '#')
            {
                lines.Add(string.Concat(line.Split(' ').Select(cp => char.ConvertFromUtf32(int.Parse(cp, NumberStyles.HexNumber, CultureInfo.InvariantCulture)))));
            }
        }

        return lines;
    }
}
