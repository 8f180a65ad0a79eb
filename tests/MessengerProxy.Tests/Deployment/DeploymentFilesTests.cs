using System.Globalization;
using MessengerProxy.Federation;
using MessengerProxy.Host.Configuration;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Registration.Configuration;
using Microsoft.Extensions.Configuration;
using Npgsql;
using MessengerProxy.Tests.TestKit;
using YamlDotNet.RepresentationModel;

namespace MessengerProxy.Tests.Deployment;

/// <summary>
/// No Docker engine runs here, so the compose stack cannot be started; instead its files are read and
/// cross-checked with each other and with the proxy's configuration, so a rename on one side fails here.
/// </summary>
public sealed class DeploymentFilesTests
{
    private static readonly Dictionary<string, Type> s_optionSections = new(StringComparer.Ordinal)
    {
        [InboundOptions.SectionName] = typeof(InboundOptions),
        [WellKnownOptions.SectionName] = typeof(WellKnownOptions),
        [HealthOptions.SectionName] = typeof(HealthOptions),
        [FederationOptions.SectionName] = typeof(FederationOptions),
        [RegistrationOptions.SectionName] = typeof(RegistrationOptions),
        [MessengerProxy.Outbound.Configuration.OutboundOptions.SectionName] = typeof(MessengerProxy.Outbound.Configuration.OutboundOptions),
        [MessengerProxy.LowBandwidth.Configuration.LowBandwidthOptions.SectionName] = typeof(MessengerProxy.LowBandwidth.Configuration.LowBandwidthOptions),
    };

    private readonly YamlMappingNode _compose = Load("docker-compose.yml");
    private readonly YamlMappingNode _homeserver = Load("homeserver.yaml");

    private YamlMappingNode Services => Map(_compose, "services");

    private YamlMappingNode Proxy => Map(Services, "proxy");

    private YamlMappingNode Synapse => Map(Services, "synapse");

    private Dictionary<string, string> ProxyEnvironment => Environment(Proxy);

    private YamlMappingNode RegistrationService => Map(Services, "registration");

    [Fact]
    public void Compose_HasProxySynapseAndPostgres()
    {
        Assert.Contains("proxy", Keys(Services));
        Assert.Contains("synapse", Keys(Services));
        Assert.Contains("postgres", Keys(Services));
        Assert.Equal(".", Scalar(Proxy, "build"));
        Assert.True(File.Exists(RepoPaths.Combine("Dockerfile")));
    }

    [Fact]
    public void EnvironmentKeys_AreRealConfigurationKeys()
    {
        foreach (var key in ProxyEnvironment.Keys.Concat(Environment(RegistrationService).Keys))
        {
            var parts = key.Split("__");
            if (parts[0] is "Logging" or "ASPNETCORE_ENVIRONMENT")
            {
                continue;
            }

            Assert.True(s_optionSections.TryGetValue(parts[0], out var type), $"'{key}': no configuration section '{parts[0]}'");
            foreach (var part in parts.Skip(1))
            {
                // A list index (Inbound__Listeners__0__Port) stands for an element of the list.
                if (part.All(char.IsAsciiDigit) && type!.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
                {
                    type = type.GetGenericArguments()[0];
                    continue;
                }

                var property = type!.GetProperty(part);
                Assert.True(property is not null, $"'{key}': {type.Name} has no property '{part}'");
                type = property.PropertyType;
            }
        }
    }

    [Fact]
    public void ProxyPointsAtTheSynapseListener_ThatTrustsForwardedHeaders()
    {
        var homeserverUrl = new Uri(ProxyEnvironment["Inbound__HomeserverUrl"]);
        Assert.Equal("synapse", homeserverUrl.Host);

        var listener = Sequence(_homeserver, "listeners").Cast<YamlMappingNode>()
            .Single(l => int.Parse(Scalar(l, "port"), CultureInfo.InvariantCulture) == homeserverUrl.Port);
        Assert.Equal("http", Scalar(listener, "type"));
        Assert.Equal("false", Scalar(listener, "tls"));
        Assert.Equal("true", Scalar(listener, "x_forwarded"));
        var resources = Sequence(listener, "resources").Cast<YamlMappingNode>().SelectMany(r => Sequence(r, "names").Select(n => ((YamlScalarNode)n).Value)).ToList();
        Assert.Contains("client", resources);
        Assert.Contains("federation", resources);
        // Synapse serves /health on every listener; readiness probes it there.
        Assert.Equal("/health", ProxyEnvironment["Health__HomeserverProbePath"]);
    }

    [Fact]
    public void Synapse_PublishesNoPort_OnlyTheProxyDoes()
    {
        Assert.False(Synapse.Children.ContainsKey(new YamlScalarNode("ports")), "Synapse must only be reachable through the proxy");
        var published = Sequence(Proxy, "ports").Select(p => ((YamlScalarNode)p).Value!).ToList();
        Assert.Contains($"{new InboundOptions().Port}:{new InboundOptions().Port}", published);
        Assert.Contains($"127.0.0.1:{new HealthOptions().Port}:{new HealthOptions().Port}", published);
        Assert.Contains($"{new MessengerProxy.Inbound.Information.TimInformationOptions().Port}:{new MessengerProxy.Inbound.Information.TimInformationOptions().Port}", published);
        var healthcheck = string.Join(' ', Sequence(Map(Proxy, "healthcheck"), "test").Select(t => ((YamlScalarNode)t).Value));
        Assert.Contains($"http://127.0.0.1:{new HealthOptions().Port}/actuator/health/liveness", healthcheck);
    }

    [Fact]
    public void Proxy_OneProcessServesClientsOn8090_AndFederationWithTlsOn8448()
    {
        var listeners = ComposeListeners();
        Assert.DoesNotContain(ProxyEnvironment.Keys, k => k is "Inbound__Port" or "Inbound__BindAddress" or "Inbound__TlsCertificatePath" or "Inbound__TlsKeyPath");
        var published = Sequence(Proxy, "ports").Select(p => ((YamlScalarNode)p).Value!).ToList();

        var client = Assert.Single(listeners, l => l.Apis == ListenerApis.Client);
        Assert.Equal(new InboundOptions().Port, client.Port);
        Assert.Contains($"{client.Port}:{client.Port}", published);
        Assert.Equal(client.Port, new Uri(ProxyEnvironment["Inbound__PublicBaseUrl"]).Port);

        var federation = Assert.Single(listeners, l => l.Apis == ListenerApis.Federation);
        Assert.Equal(8448, federation.Port);
        Assert.True(federation.UsesTls);
        Assert.Contains($"{federation.Port}:{federation.Port}", published);
        // m.server names the federation port explicitly, so other servers need no SRV look-up.
        Assert.True(MessengerProxy.Policy.Federation.ServerNames.TryGetHostAndPort(ProxyEnvironment["WellKnown__Server"], out _, out var wellKnownPort));
        Assert.Equal(federation.Port, wellKnownPort);

        // The certificate comes from the init service the proxy waits for, through the shared volume.
        var init = Sequence(Map(Services, "federation-tls-init"), "entrypoint").Select(e => ((YamlScalarNode)e).Value!).ToList();
        Assert.Equal(Path.Combine(init[^3], init[^1] + ".crt"), federation.TlsCertificatePath);
        Assert.Equal(Path.Combine(init[^3], init[^1] + ".key"), federation.TlsKeyPath);
        Assert.Contains(Sequence(Proxy, "volumes").Select(v => ((YamlScalarNode)v).Value!), m => m.Split(':')[1] == init[^3]);
        Assert.Equal("service_completed_successfully", Scalar(Map(Map(Proxy, "depends_on"), "federation-tls-init"), "condition"));
    }

    /// <summary>The proxy's inbound listeners as the compose environment configures them, read by the proxy's own binder.</summary>
    private IReadOnlyList<InboundListener> ComposeListeners()
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(ProxyEnvironment.Where(e => e.Key.StartsWith("Inbound__", StringComparison.Ordinal))
                .Select(e => KeyValuePair.Create(e.Key.Replace("__", ":", StringComparison.Ordinal), (string?)e.Value)))
            .Build();
        var options = new InboundOptions();
        ConfigurationBinder.Bind(configuration.GetSection(InboundOptions.SectionName), options);
        return InboundListener.All(options);
    }

    [Fact]
    public void Synapse_DatabaseSettings_MatchThePostgresService()
    {
        var database = Map(_homeserver, "database");
        Assert.Equal("psycopg2", Scalar(database, "name"));
        var args = Map(database, "args");
        var postgres = Environment(Map(Services, "postgres"));
        Assert.Equal("postgres", Scalar(args, "host"));
        Assert.Equal(postgres["POSTGRES_USER"], Scalar(args, "user"));
        Assert.Equal(postgres["POSTGRES_PASSWORD"], Scalar(args, "password"));
        Assert.Equal(postgres["POSTGRES_DB"], Scalar(args, "dbname"));
        Assert.Contains("--lc-collate=C", postgres["POSTGRES_INITDB_ARGS"]);
    }

    [Fact]
    public void Synapse_SendsOutgoingTrafficThroughTheOutboundProxy_AndTrustsItsCa()
    {
        var environment = Environment(Synapse);
        // The outbound proxy listens on 8093 (the TIM reference's port) in the proxy service.
        Assert.Equal("http://proxy:8093", environment["https_proxy"]);
        Assert.Equal("http://proxy:8093", environment["http_proxy"]);

        var caFile = Sequence(_homeserver, "federation_custom_ca_list").Select(n => ((YamlScalarNode)n).Value!).Single();
        Assert.Equal("true", Scalar(_homeserver, "federation_verify_certificates"));
        var mounts = Sequence(Synapse, "volumes").Select(v => ((YamlScalarNode)v).Value!).ToList();
        var certificateMount = mounts.Single(m => m.Split(':')[1] == Path.GetDirectoryName(caFile));
        var volume = certificateMount.Split(':')[0];

        // The same volume is where ca-init writes the CA.
        var caInit = Map(Services, "ca-init");
        Assert.Contains(Sequence(caInit, "volumes").Select(v => ((YamlScalarNode)v).Value!), m => m.StartsWith(volume + ":", StringComparison.Ordinal));
        Assert.Equal(Path.GetDirectoryName(caFile), Sequence(caInit, "entrypoint").Select(e => ((YamlScalarNode)e).Value).Last());
        Assert.True(File.Exists(RepoPaths.Combine("certificates", "create-ca.sh")));

        // The proxy signs with the key beside that certificate, from the same volume, and waits for it.
        Assert.Equal(caFile, ProxyEnvironment["Outbound__CaCertificatePath"]);
        Assert.Equal(Path.Combine(Path.GetDirectoryName(caFile)!, "ca.key"), ProxyEnvironment["Outbound__CaKeyPath"]);
        Assert.Contains(Sequence(Proxy, "volumes").Select(v => ((YamlScalarNode)v).Value!), m => m.StartsWith(volume + ":" + Path.GetDirectoryName(caFile), StringComparison.Ordinal));
        Assert.Equal("service_completed_successfully", Scalar(Map(Map(Proxy, "depends_on"), "ca-init"), "condition"));

        // Port 8093 is for Synapse only: never published on the host.
        var published = Proxy.Children.TryGetValue(new YamlScalarNode("ports"), out var ports)
            ? ((YamlSequenceNode)ports).Select(p => ((YamlScalarNode)p).Value!).ToList()
            : [];
        Assert.DoesNotContain(published, p => p.EndsWith(":8093", StringComparison.Ordinal) || p == "8093");
    }

    [Fact]
    public void PublicBaseUrlAndUploadLimit_AgreeBetweenProxyAndSynapse()
    {
        Assert.Equal(ProxyEnvironment["Inbound__PublicBaseUrl"].TrimEnd('/'), Scalar(_homeserver, "public_baseurl").TrimEnd('/'));

        var synapseLimit = Scalar(_homeserver, "max_upload_size");
        Assert.EndsWith("M", synapseLimit);
        var synapseBytes = long.Parse(synapseLimit[..^1], CultureInfo.InvariantCulture) * 1024 * 1024;
        var proxyBytes = long.Parse(ProxyEnvironment["Inbound__MaxUploadBodyBytes"], CultureInfo.InvariantCulture);
        Assert.True(synapseBytes <= proxyBytes, $"Synapse accepts {synapseBytes} bytes but the proxy only {proxyBytes}");
    }

    [Fact]
    public void Dockerfile_ExposesTheDefaultPortsAndRunsTheProxy()
    {
        var dockerfile = File.ReadAllText(RepoPaths.Combine("Dockerfile"));
        var registration = new RegistrationOptions();
        Assert.Contains($"EXPOSE {new InboundOptions().Port} {new MessengerProxy.Outbound.Configuration.OutboundOptions().Port} {new MessengerProxy.LowBandwidth.Configuration.LowBandwidthOptions().Port}/udp {new HealthOptions().Port} {registration.Port} {registration.HealthPort}", dockerfile);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"/app/proxy/MessengerProxy.dll\"]", dockerfile);
        Assert.Contains("dotnet publish src/Host/Host.csproj --configuration Release --output /app/proxy", dockerfile);
        Assert.Contains("dotnet publish src/Registration/Registration.csproj --configuration Release --output /app/registration", dockerfile);
        Assert.Equal(["dotnet", "/app/registration/MessengerProxy.Registration.dll"], Sequence(RegistrationService, "entrypoint").Select(e => ((YamlScalarNode)e).Value));
        Assert.Contains("Federation__CacheFile=/data/federation-list.json", dockerfile);
    }

    [Fact]
    public void FrontDoor_PublishedOnUdp_WithTheCertificateDtlsInitMakes()
    {
        Assert.Equal("true", ProxyEnvironment["LowBandwidth__Enabled"]);
        var port = new MessengerProxy.LowBandwidth.Configuration.LowBandwidthOptions().Port;
        Assert.Contains(Sequence(Proxy, "ports").Select(p => ((YamlScalarNode)p).Value!), p => p == $"{port}:{port}/udp");
        var dtlsInit = Sequence(Map(Services, "dtls-init"), "entrypoint").Select(e => ((YamlScalarNode)e).Value!).ToList();
        Assert.Equal(Path.Combine(dtlsInit[^2], "dtls.crt"), ProxyEnvironment["LowBandwidth__CertificatePath"]);
        Assert.Equal(Path.Combine(dtlsInit[^2], "dtls.key"), ProxyEnvironment["LowBandwidth__KeyPath"]);
        Assert.True(File.Exists(RepoPaths.Combine("certificates", "create-dtls-cert.sh")));
        Assert.Equal("service_completed_successfully", Scalar(Map(Map(Proxy, "depends_on"), "dtls-init"), "condition"));
    }

    [Fact]
    public void Proxy_PollsTheRegistrationService_ForItsOwnServerName()
    {
        var url = new Uri(ProxyEnvironment["Federation__RegistrationServiceUrl"]);
        Assert.Equal("registration", url.Host);
        Assert.Equal(new RegistrationOptions().Port, url.Port);
        Assert.Equal(Scalar(_homeserver, "server_name"), ProxyEnvironment["Federation__ServerName"]);

        // The persisted list lives in a volume.
        var cacheDirectory = Path.GetDirectoryName(ProxyEnvironment["Federation__CacheFile"]);
        Assert.Contains(Sequence(Proxy, "volumes").Select(v => ((YamlScalarNode)v).Value!), m => m.Split(':')[1] == cacheDirectory);
        Assert.Contains("registration", Keys(Map(Proxy, "depends_on")));
    }

    [Fact]
    public void RegistrationService_DatabaseAndToken_AreConsistent()
    {
        var environment = Environment(RegistrationService);
        var connection = new NpgsqlConnectionStringBuilder(environment["Registration__ConnectionString"]);
        Assert.Equal("postgres", connection.Host);
        Assert.True(environment["Registration__AdminToken"].Length >= 32);

        // The role and database are created by the init script mounted into the postgres service.
        var mount = Sequence(Map(Services, "postgres"), "volumes").Select(v => ((YamlScalarNode)v).Value!).Single(v => v.Contains("docker-entrypoint-initdb.d", StringComparison.Ordinal));
        var script = File.ReadAllText(RepoPaths.Combine(mount.Split(':')[0]));
        Assert.Contains($"CREATE ROLE {connection.Username} LOGIN PASSWORD '{connection.Password}'", script);
        Assert.Contains($"CREATE DATABASE {connection.Database} OWNER {connection.Username}", script);
        Assert.Contains("postgres", Keys(Map(RegistrationService, "depends_on")));
        Assert.Equal($"127.0.0.1:{new RegistrationOptions().Port}:{new RegistrationOptions().Port}", Sequence(RegistrationService, "ports").Select(p => ((YamlScalarNode)p).Value).Single());
    }

    private static YamlMappingNode Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(RepoPaths.Combine(file));
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }

    private static IEnumerable<string> Keys(YamlMappingNode node) => node.Children.Keys.Select(k => ((YamlScalarNode)k).Value!);

    private static YamlMappingNode Map(YamlMappingNode node, string key) => (YamlMappingNode)node.Children[new YamlScalarNode(key)];

    private static YamlSequenceNode Sequence(YamlMappingNode node, string key) => (YamlSequenceNode)node.Children[new YamlScalarNode(key)];

    private static string Scalar(YamlMappingNode node, string key) => ((YamlScalarNode)node.Children[new YamlScalarNode(key)]).Value!;

    private static Dictionary<string, string> Environment(YamlMappingNode service) =>
        Map(service, "environment").Children.ToDictionary(e => ((YamlScalarNode)e.Key).Value!, e => ((YamlScalarNode)e.Value).Value!);
}
