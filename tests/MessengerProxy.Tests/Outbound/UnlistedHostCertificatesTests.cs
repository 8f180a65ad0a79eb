using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

/// <summary>The mint budget for hosts outside the federation: a token bucket over time, cached hosts free.</summary>
public sealed class UnlistedHostCertificatesTests : IDisposable
{
    private static readonly DateTimeOffset s_start = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private readonly CaFiles _files = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CertificateAuthority _authority;
    private readonly SteppingTime _time = new(s_start);

    public UnlistedHostCertificatesTests()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_start.AddYears(-1), s_start.AddYears(1));
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        _authority = CertificateAuthority.Load(certificatePath, keyPath, s_start);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _services.Dispose();
        _files.Dispose();
    }

    [Fact]
    public void TryPrepare_BudgetSpent_RefusesNewHosts_UntilTokensRefill_CachedHostsAlwaysFree()
    {
        using var certificates = Certificates(mints: 2, period: TimeSpan.FromMinutes(1));

        Assert.True(certificates.TryPrepare("a.example"));
        Assert.True(certificates.TryPrepare("b.example"));
        Assert.False(certificates.TryPrepare("c.example"));
        Assert.True(certificates.TryPrepare("a.example"));

        // Two per minute: one token back after 30 s, not two.
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(certificates.TryPrepare("c.example"));
        Assert.False(certificates.TryPrepare("d.example"));

        // A long quiet spell refills only up to the bucket's size.
        _time.Advance(TimeSpan.FromHours(1));
        Assert.True(certificates.TryPrepare("d.example"));
        Assert.True(certificates.TryPrepare("e.example"));
        Assert.False(certificates.TryPrepare("f.example"));
    }

    [Fact]
    public void Get_PresentsALeafForTheHostFromItsOwnCache()
    {
        using var certificates = Certificates(mints: 1, period: TimeSpan.FromMinutes(1));

        Assert.True(certificates.TryPrepare("unlisted.example"));
        var context = certificates.Get("unlisted.example");

        Assert.Equal("unlisted.example", context.TargetCertificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.DnsName, false));
        Assert.Equal(_authority.Certificate.SubjectName.RawData, context.TargetCertificate.IssuerName.RawData);
    }

    private UnlistedHostCertificates Certificates(int mints, TimeSpan period) => new(_authority,
        Options.Create(new OutboundOptions { LeafValidity = TimeSpan.FromDays(2), UnlistedCertificateMints = mints, UnlistedCertificateMintPeriod = period, MaxCachedUnlistedCertificates = 100 }),
        _time, new OutboundMetrics(_services.GetRequiredService<IMeterFactory>()));

    /// <summary>A clock whose wall time and monotonic timestamps move only when the test advances them.</summary>
    private sealed class SteppingTime(DateTimeOffset start) : TimeProvider
    {
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public override DateTimeOffset GetUtcNow() => start.AddTicks(Interlocked.Read(ref _ticks));

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
