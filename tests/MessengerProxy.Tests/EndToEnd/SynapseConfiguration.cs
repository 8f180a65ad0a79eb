using System.Globalization;
using MessengerProxy.Tests.TestKit;
using YamlDotNet.RepresentationModel;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>What differs between the compose stack and one test homeserver: addresses, ports, paths, secrets.</summary>
/// <param name="ServerName">e.g. <c>hs1.test:40123</c> (with the port of its proxy's federation listener, so no SRV look-up happens).</param>
/// <param name="ConfigDirectory">The homeserver's folder as Synapse sees it inside the chroot.</param>
public sealed record SynapseSubstitutions(
    string ServerName,
    string PublicBaseUrl,
    int ListenerPort,
    string DatabaseHost,
    int DatabasePort,
    string DatabaseUser,
    string DatabasePassword,
    string DatabaseName,
    string ConfigDirectory,
    string ProxyCaPath,
    string RegistrationSharedSecret,
    string OutboundProxyUrl);

/// <summary>
/// Synapse's configuration and environment taken from the repository's own <c>homeserver.yaml</c> and the
/// compose file's <c>synapse</c> service, with only the keys below replaced. Every other setting is the
/// repository's, so a change there is what the real Synapse in these tests runs with; a key this needs to
/// replace that is gone from the file fails loudly instead of being added back here.
/// </summary>
public static class SynapseConfiguration
{
    /// <summary>The keys replaced, as paths into homeserver.yaml.</summary>
    public static readonly string[] SubstitutedKeys =
    [
        "server_name", "public_baseurl", "pid_file", "listeners[0].port", "listeners[0].bind_addresses",
        "database.args.host", "database.args.port", "database.args.user", "database.args.password", "database.args.dbname",
        "log_config", "media_store_path", "signing_key_path", "federation_custom_ca_list", "registration_shared_secret",
    ];

    /// <summary>Names of the compose file's Synapse environment that are replaced (proxy URLs); others are kept.</summary>
    public static readonly string[] SubstitutedEnvironment = ["https_proxy", "http_proxy", "no_proxy"];

    /// <param name="repositoryYaml">The file's text; by default the repository's homeserver.yaml.</param>
    public static string HomeserverYaml(SynapseSubstitutions s, string? repositoryYaml = null)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(repositoryYaml ?? File.ReadAllText(RepoPaths.Combine("homeserver.yaml"))))
        {
            stream.Load(reader);
        }

        var root = (YamlMappingNode)stream.Documents[0].RootNode;
        Replace(root, "server_name", Quoted(s.ServerName));
        Replace(root, "public_baseurl", Quoted(s.PublicBaseUrl));
        Replace(root, "pid_file", Plain($"{s.ConfigDirectory}/homeserver.pid"));

        var listeners = (YamlSequenceNode)Required(root, "listeners");
        if (listeners.Children.Count != 1)
        {
            throw new InvalidOperationException($"homeserver.yaml: expected one listener (the one behind the proxy), found {listeners.Children.Count}; update {nameof(SynapseConfiguration)}");
        }

        var listener = (YamlMappingNode)listeners.Children[0];
        Replace(listener, "port", Plain(s.ListenerPort.ToString(CultureInfo.InvariantCulture)));
        Replace(listener, "bind_addresses", new YamlSequenceNode(Quoted("127.0.0.1")));

        var args = (YamlMappingNode)Required((YamlMappingNode)Required(root, "database"), "args");
        Replace(args, "host", Plain(s.DatabaseHost));
        Replace(args, "port", Plain(s.DatabasePort.ToString(CultureInfo.InvariantCulture)));
        Replace(args, "user", Plain(s.DatabaseUser));
        Replace(args, "password", Quoted(s.DatabasePassword));
        Replace(args, "dbname", Plain(s.DatabaseName));

        Replace(root, "log_config", Plain($"{s.ConfigDirectory}/log.config"));
        Replace(root, "media_store_path", Plain($"{s.ConfigDirectory}/media_store"));
        Replace(root, "signing_key_path", Plain($"{s.ConfigDirectory}/signing.key"));
        var caList = (YamlSequenceNode)Required(root, "federation_custom_ca_list");
        if (caList.Children.Count != 1)
        {
            throw new InvalidOperationException("homeserver.yaml: federation_custom_ca_list should name exactly the proxy CA");
        }

        Replace(root, "federation_custom_ca_list", new YamlSequenceNode(Plain(s.ProxyCaPath)));
        Replace(root, "registration_shared_secret", Quoted(s.RegistrationSharedSecret));

        using var writer = new StringWriter(CultureInfo.InvariantCulture);
        stream.Save(writer, assignAnchors: false);
        return writer.ToString();
    }

    /// <summary>The compose file's environment of the <c>synapse</c> service, the proxy URLs pointed at this test's outbound proxy.</summary>
    public static Dictionary<string, string> Environment(SynapseSubstitutions s)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(File.ReadAllText(RepoPaths.Combine("docker-compose.yml"))))
        {
            stream.Load(reader);
        }

        var synapse = (YamlMappingNode)Required((YamlMappingNode)Required((YamlMappingNode)stream.Documents[0].RootNode, "services"), "synapse");
        var environment = ((YamlMappingNode)Required(synapse, "environment")).Children
            .ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value ?? string.Empty, StringComparer.Ordinal);
        foreach (var name in SubstitutedEnvironment)
        {
            if (!environment.ContainsKey(name))
            {
                throw new InvalidOperationException($"docker-compose.yml: the synapse service has no '{name}' any more; update {nameof(SynapseConfiguration)}");
            }
        }

        environment["https_proxy"] = s.OutboundProxyUrl;
        environment["http_proxy"] = s.OutboundProxyUrl;
        // The compose stack exempts the database's host name; here that is loopback, which nothing else uses.
        environment["no_proxy"] = s.DatabaseHost;
        return environment;
    }

    /// <summary>The repository's Synapse log configuration (console output, read by the fixture).</summary>
    public static string LogConfig() => File.ReadAllText(RepoPaths.Combine("deploy", "synapse.log.config"));

    private static YamlNode Required(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var value)
            ? value
            : throw new InvalidOperationException($"homeserver.yaml (or docker-compose.yml) has no '{key}', which the end-to-end fixture must substitute; update {nameof(SynapseConfiguration)}");

    private static void Replace(YamlMappingNode map, string key, YamlNode value)
    {
        _ = Required(map, key);
        map.Children[new YamlScalarNode(key)] = value;
    }

    private static YamlScalarNode Plain(string value) => new(value);

    private static YamlScalarNode Quoted(string value) => new(value) { Style = YamlDotNet.Core.ScalarStyle.DoubleQuoted };
}
