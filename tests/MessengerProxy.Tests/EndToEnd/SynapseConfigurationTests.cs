using MessengerProxy.Tests.TestKit;
using YamlDotNet.RepresentationModel;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>The end-to-end Synapses run the repository's homeserver.yaml: only addresses, ports, paths and secrets differ.</summary>
public sealed class SynapseConfigurationTests
{
    private static readonly SynapseSubstitutions s_settings = new(
        "hs1.test:40001", "https://hs1.test:40001/", 40002, "127.0.0.1", 5433, "postgres", "pw", "synapse_hs1", "/e2e/hs1",
        "/e2e/hs1/proxy-ca.pem", "secret-0123", "http://127.0.0.1:40003");

    [Fact]
    public void HomeserverYaml_KeepsEverySettingOfTheRepositoryFile_ButTheSubstitutedOnes()
    {
        var original = Root(File.ReadAllText(RepoPaths.Combine("homeserver.yaml")));
        var substituted = Root(SynapseConfiguration.HomeserverYaml(s_settings));

        var topLevelSubstituted = SynapseConfiguration.SubstitutedKeys.Select(k => k.Split('.', '[')[0]).ToHashSet(StringComparer.Ordinal);
        Assert.Equal(Keys(original), Keys(substituted));
        foreach (var key in Keys(original).Where(k => !topLevelSubstituted.Contains(k)))
        {
            Assert.True(Text(original.Children[new YamlScalarNode(key)]) == Text(substituted.Children[new YamlScalarNode(key)]), $"'{key}' changed");
        }

        Assert.Equal("hs1.test:40001", Scalar(substituted.Children[new YamlScalarNode("server_name")]));
        Assert.Equal("/e2e/hs1/signing.key", Scalar(substituted.Children[new YamlScalarNode("signing_key_path")]));
        var listener = (YamlMappingNode)((YamlSequenceNode)substituted.Children[new YamlScalarNode("listeners")]).Children[0];
        var originalListener = (YamlMappingNode)((YamlSequenceNode)original.Children[new YamlScalarNode("listeners")]).Children[0];
        Assert.Equal("40002", Scalar(listener.Children[new YamlScalarNode("port")]));
        // The listener's behaviour (x_forwarded, resources, tls) is the repository's.
        foreach (var key in Keys(originalListener).Where(k => k is not ("port" or "bind_addresses")))
        {
            Assert.Equal(Text(originalListener.Children[new YamlScalarNode(key)]), Text(listener.Children[new YamlScalarNode(key)]));
        }

        var args = (YamlMappingNode)((YamlMappingNode)substituted.Children[new YamlScalarNode("database")]).Children[new YamlScalarNode("args")];
        Assert.Equal("synapse_hs1", Scalar(args.Children[new YamlScalarNode("dbname")]));
        Assert.Equal("127.0.0.1", Scalar(args.Children[new YamlScalarNode("host")]));
    }

    [Theory]
    [InlineData("signing_key_path")]
    [InlineData("federation_custom_ca_list")]
    [InlineData("registration_shared_secret")]
    public void HomeserverYaml_MissingKeyToSubstitute_FailsLoudly(string key)
    {
        var text = string.Join('\n', File.ReadAllLines(RepoPaths.Combine("homeserver.yaml")).Where(l => !l.StartsWith(key + ":", StringComparison.Ordinal))
            .Where(l => key != "federation_custom_ca_list" || !l.StartsWith("  - /certificates/", StringComparison.Ordinal)));

        var error = Assert.Throws<InvalidOperationException>(() => SynapseConfiguration.HomeserverYaml(s_settings, text));

        Assert.Contains($"'{key}'", error.Message);
    }

    [Fact]
    public void Environment_IsTheComposeFilesWithTheProxyUrlsReplaced()
    {
        var environment = SynapseConfiguration.Environment(s_settings);

        Assert.Equal("http://127.0.0.1:40003", environment["https_proxy"]);
        Assert.Equal("http://127.0.0.1:40003", environment["http_proxy"]);
        Assert.Equal("127.0.0.1", environment["no_proxy"]);
    }

    private static YamlMappingNode Root(string text)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(text));
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static List<string> Keys(YamlMappingNode map) => map.Children.Keys.Select(k => ((YamlScalarNode)k).Value!).ToList();

    private static string? Scalar(YamlNode node) => ((YamlScalarNode)node).Value;

    private static string Text(YamlNode node)
    {
        var stream = new YamlStream(new YamlDocument(node));
        using var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
