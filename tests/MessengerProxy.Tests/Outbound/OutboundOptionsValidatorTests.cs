using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

public sealed class OutboundOptionsValidatorTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "messengerproxy-outbound-options-" + Guid.NewGuid().ToString("N"));
    private readonly string _certificatePath;
    private readonly string _keyPath;

    public OutboundOptionsValidatorTests()
    {
        Directory.CreateDirectory(_directory);
        _certificatePath = Path.Combine(_directory, "ca.crt");
        _keyPath = Path.Combine(_directory, "ca.key");
        File.WriteAllText(_certificatePath, "certificate");
        File.WriteAllText(_keyPath, "key");
    }

    public void Dispose() => TestDirectories.Delete(_directory);

    [Fact]
    public void Validate_CompleteSettings_Succeeds()
    {
        var options = Valid();
        options.ExtraHosts.AddRange(["push.example", "sso.example:8080", "[2001:db8::1]:443", "192.0.2.1"]);
        options.AllowedNetworks.AddRange(["127.0.0.1", "10.0.0.0/8", "fd00::/8"]);
        options.HostAddresses["internal.example"] = "127.0.0.1, ::1";
        options.Delegations["example.org"] = "matrix.example.net";
        options.AllowedPorts.AddRange([443, 8448]);
        options.ExtraEndpoints.Add("GET /_matrix/federation/unstable/{*path}");
        options.DeniedEndpoints.Add("GET /_matrix/federation/v1/publicRooms");
        options.TrustedCaPaths.Add(_certificatePath);

        var result = Validate(options);

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Fact]
    public void Validate_Disabled_SucceedsWhateverElseIsWrong()
    {
        var options = new OutboundOptions
        {
            Enabled = false,
            Port = -5,
            DnsTimeout = TimeSpan.FromSeconds(-1),
            ExtraHosts = ["bad host"],
            AllowedNetworks = ["10.0.0.0/99"],
            DeniedEndpoints = ["GET /nothing"],
        };

        Assert.True(Validate(options).Succeeded);
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("cert", "")]
    [InlineData("", "key")]
    [InlineData("  ", "key")]
    public void Validate_CaPathsMissing_NamesBothKeys(string certificatePath, string keyPath)
    {
        var options = Valid();
        options.CaCertificatePath = certificatePath;
        options.CaKeyPath = keyPath;

        var failures = Failures(options);

        var failure = Assert.Single(failures);
        Assert.Contains("Outbound:CaCertificatePath", failure);
        Assert.Contains("Outbound:CaKeyPath", failure);
    }

    [Fact]
    public void Validate_CaFilesDoNotExist_NamesEachKey()
    {
        var options = Valid();
        options.CaCertificatePath = Path.Combine(_directory, "missing.crt");
        options.CaKeyPath = Path.Combine(_directory, "missing.key");
        options.TrustedCaPaths.Add(Path.Combine(_directory, "missing-trust.crt"));

        var failures = Failures(options);

        Assert.Contains(failures, f => f.StartsWith("Outbound:CaCertificatePath", StringComparison.Ordinal) && f.Contains("missing.crt"));
        Assert.Contains(failures, f => f.StartsWith("Outbound:CaKeyPath", StringComparison.Ordinal) && f.Contains("missing.key"));
        Assert.Contains(failures, f => f.StartsWith("Outbound:TrustedCaPaths:0", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("host:99999")]
    [InlineData("host:0")]
    [InlineData("host:")]
    [InlineData("host:http")]
    [InlineData("bad host")]
    [InlineData("user@host")]
    [InlineData("[::1]:99999")]
    [InlineData("")]
    public void Validate_BadExtraHost_NamesTheEntry(string entry)
    {
        var options = Valid();
        options.ExtraHosts.AddRange(["fine.example", entry]);

        var failure = Assert.Single(Failures(options));

        Assert.StartsWith("Outbound:ExtraHosts:1 ", failure);
        Assert.Contains($"'{entry}'", failure);
    }

    [Theory]
    [InlineData("[::1]junk")]
    [InlineData("[not-v6]:443")]
    public void Validate_MalformedBracketedExtraHost_IsRefused(string entry)
    {
        var options = Valid();
        options.ExtraHosts.Add(entry);

        Assert.Contains(Failures(options), f => f.StartsWith("Outbound:ExtraHosts:0", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("10.0.0.0/99")]
    [InlineData("10.0.0.0/")]
    [InlineData("not-a-network")]
    [InlineData("fd00::/129")]
    public void Validate_BadAllowedNetwork_NamesTheEntry(string entry)
    {
        var options = Valid();
        options.AllowedNetworks.Add(entry);

        var failure = Assert.Single(Failures(options));

        Assert.StartsWith("Outbound:AllowedNetworks:0 ", failure);
        Assert.Contains($"'{entry}'", failure);
    }

    [Theory]
    [InlineData("not-an-ip")]
    [InlineData("127.0.0.1, not-an-ip")]
    [InlineData("")]
    [InlineData(" , ")]
    public void Validate_BadHostAddresses_NamesTheHost(string value)
    {
        var options = Valid();
        options.HostAddresses["internal.example"] = value;

        var failure = Assert.Single(Failures(options));

        Assert.StartsWith("Outbound:HostAddresses:internal.example ", failure);
    }

    [Theory]
    [InlineData("example.org", "matrix.example.net:8448")]
    [InlineData("example.org", "")]
    [InlineData("example.org", "bad host")]
    [InlineData("bad server", "matrix.example.net")]
    public void Validate_BadDelegation_NamesTheServerName(string serverName, string host)
    {
        var options = Valid();
        options.Delegations[serverName] = host;

        var failure = Assert.Single(Failures(options));

        Assert.StartsWith($"Outbound:Delegations:{serverName} ", failure);
    }

    [Theory]
    [InlineData(nameof(OutboundOptions.LeafValidity))]
    [InlineData(nameof(OutboundOptions.RequestHeadTimeout))]
    [InlineData(nameof(OutboundOptions.HandshakeTimeout))]
    [InlineData(nameof(OutboundOptions.DnsTimeout))]
    [InlineData(nameof(OutboundOptions.UpstreamConnectTimeout))]
    [InlineData(nameof(OutboundOptions.UpstreamTimeout))]
    [InlineData(nameof(OutboundOptions.DelegationLifetime))]
    [InlineData(nameof(OutboundOptions.UnlistedCertificateMintPeriod))]
    public void Validate_NegativeOrZeroTimeSpan_NamesTheKey(string key)
    {
        foreach (var value in new[] { TimeSpan.FromSeconds(-1), TimeSpan.Zero })
        {
            var options = Valid();
            typeof(OutboundOptions).GetProperty(key)!.SetValue(options, value);

            var failure = Assert.Single(Failures(options));

            Assert.StartsWith($"Outbound:{key} must be positive", failure);
        }
    }

    [Fact]
    public void Validate_LeafValidityOverAYear_IsRefused()
    {
        var options = Valid();
        options.LeafValidity = TimeSpan.FromDays(398);

        Assert.StartsWith("Outbound:LeafValidity must be at most 397 days", Assert.Single(Failures(options)));
    }

    [Theory]
    [InlineData(nameof(OutboundOptions.MaxCachedCertificates))]
    [InlineData(nameof(OutboundOptions.MaxRequestHeadBytes))]
    [InlineData(nameof(OutboundOptions.MaxConnections))]
    [InlineData(nameof(OutboundOptions.UnlistedCertificateMints))]
    [InlineData(nameof(OutboundOptions.MaxCachedUnlistedCertificates))]
    public void Validate_ZeroLimit_NamesTheKey(string key)
    {
        var options = Valid();
        typeof(OutboundOptions).GetProperty(key)!.SetValue(options, 0);

        Assert.StartsWith($"Outbound:{key} must be positive", Assert.Single(Failures(options)));
    }

    [Fact]
    public void Validate_NegativeBodyLimit_NamesTheKey()
    {
        var options = Valid();
        options.MaxRequestBodyBytes = -1;

        Assert.StartsWith("Outbound:MaxRequestBodyBytes must be positive", Assert.Single(Failures(options)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(65536)]
    public void Validate_BadAllowedPort_NamesTheKey(int port)
    {
        var options = Valid();
        options.AllowedPorts.AddRange([443, port]);

        Assert.StartsWith("Outbound:AllowedPorts", Assert.Single(Failures(options)));
    }

    [Fact]
    public void Validate_BadListener_NamesPortAndBindAddress()
    {
        var options = Valid();
        options.Port = 70000;
        options.BindAddress = "not-an-address";

        var failures = Failures(options);

        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Outbound:Port ", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Outbound:BindAddress ", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_DeniedEndpointMatchingNothing_IsRefused()
    {
        var options = Valid();
        options.DeniedEndpoints.Add("GET /_matrix/client/v3/sync");

        var failure = Assert.Single(Failures(options));

        Assert.StartsWith("Outbound:", failure);
        Assert.Contains("denied endpoint 'GET /_matrix/client/v3/sync' matches no endpoint", failure);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("FETCH /_matrix/federation/v1/x")]
    [InlineData("GET _matrix/federation/v1/x")]
    public void Validate_MalformedEndpointRules_NameTheEntry(string rule)
    {
        var options = Valid();
        options.ExtraEndpoints.Add(rule);
        options.DeniedEndpoints.Add(rule);

        var failures = Failures(options);

        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Outbound:ExtraEndpoints:0", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Outbound:DeniedEndpoints:0", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_SeveralProblems_ReportsEach()
    {
        var options = Valid();
        options.ExtraHosts.Add("host:99999");
        options.AllowedNetworks.Add("10.0.0.0/99");
        options.DnsTimeout = TimeSpan.FromSeconds(-1);

        Assert.Equal(3, Failures(options).Count);
    }

    private OutboundOptions Valid() => new() { CaCertificatePath = _certificatePath, CaKeyPath = _keyPath };

    private static ValidateOptionsResult Validate(OutboundOptions options) => new OutboundOptionsValidator().Validate(null, options);

    private static List<string> Failures(OutboundOptions options)
    {
        var result = Validate(options);
        Assert.True(result.Failed, "the settings should have been refused");
        return result.Failures!.ToList();
    }
}
