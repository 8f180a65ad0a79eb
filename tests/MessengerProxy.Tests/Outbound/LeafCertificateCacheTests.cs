using System.Diagnostics.Metrics;
using System.Net.Security;
using System.Security.Cryptography;
using MessengerProxy.Outbound.Certificates;
using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Diagnostics;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

public sealed class LeafCertificateCacheTests : IDisposable
{
    private static readonly DateTimeOffset s_start = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan s_validity = TimeSpan.FromDays(2);

    private readonly CaFiles _files = new();
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly CertificateAuthority _authority;
    private readonly (string Certificate, string Key) _caPaths;
    private readonly ManualTimeProvider _time = new(s_start);

    public LeafCertificateCacheTests()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var ca = CaFiles.CreateEcCa(key, s_start.AddYears(-1), s_start.AddYears(1));
        var (certificatePath, keyPath) = _files.Write(ca, key.ExportPkcs8PrivateKeyPem());
        _caPaths = (certificatePath, keyPath);
        _authority = CertificateAuthority.Load(certificatePath, keyPath, s_start);
    }

    public void Dispose()
    {
        _authority.Dispose();
        _services.Dispose();
        _files.Dispose();
    }

    [Fact]
    public void Get_SameHostTwice_ReturnsTheSameCertificate()
    {
        using var cache = Cache();

        var first = Thumbprint(cache.Get("remote.example"));
        var second = Thumbprint(cache.Get("remote.example"));

        Assert.Equal(first, second);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Get_Host_PresentsALeafForThatHostWithTheCa()
    {
        using var cache = Cache();

        var context = cache.Get("remote.example");

        Assert.Equal("remote.example", context.TargetCertificate.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.DnsName, false));
        Assert.True(context.TargetCertificate.HasPrivateKey);
        Assert.Equal(_authority.Certificate.SubjectName.RawData, context.TargetCertificate.IssuerName.RawData);
    }

    [Fact]
    public void Get_HostNameCaseDiffers_ReturnsTheSameCertificate()
    {
        using var cache = Cache();

        var lower = Thumbprint(cache.Get("remote.example"));
        var mixed = Thumbprint(cache.Get("Remote.EXAMPLE"));

        Assert.Equal(lower, mixed);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Get_DifferentHosts_ReturnDifferentCertificates()
    {
        using var cache = Cache();

        Assert.NotEqual(Thumbprint(cache.Get("a.example")), Thumbprint(cache.Get("b.example")));
        Assert.Equal(2, cache.Count);
    }

    [Fact]
    public void Get_BeforeHalfTheValidity_KeepsTheCertificate()
    {
        using var cache = Cache();
        var first = Thumbprint(cache.Get("remote.example"));

        _time.Advance(s_validity / 2 - TimeSpan.FromSeconds(1));

        Assert.Equal(first, Thumbprint(cache.Get("remote.example")));
    }

    [Fact]
    public void Get_AfterHalfTheValidity_MintsANewCertificate()
    {
        using var cache = Cache();
        var first = Thumbprint(cache.Get("remote.example"));

        _time.Advance(s_validity / 2);
        var renewed = cache.Get("remote.example");

        Assert.NotEqual(first, Thumbprint(renewed));
        Assert.True(renewed.TargetCertificate.NotAfter.ToUniversalTime() > (s_start + s_validity).UtcDateTime);
        Assert.Equal(Thumbprint(renewed), Thumbprint(cache.Get("remote.example")));
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public void Get_ManyHosts_StaysWithinTheBound()
    {
        using var cache = Cache(capacity: 10);

        for (var i = 0; i < 25; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            cache.Get($"host{i}.example");
            Assert.InRange(cache.Count, 1, 10);
        }
    }

    [Fact]
    public void Get_CacheFull_KeepsTheRecentlyUsedHost()
    {
        using var cache = Cache(capacity: 10);
        var kept = Thumbprint(cache.Get("kept.example"));
        for (var i = 0; i < 25; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            cache.Get($"host{i}.example");
            _time.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(kept, Thumbprint(cache.Get("kept.example")));
        }
    }

    [Fact]
    public void Get_CacheFull_KeepsTheHostJustAdded()
    {
        using var cache = Cache(capacity: 10);
        for (var i = 0; i < 10; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            cache.Get($"host{i}.example");
        }

        _time.Advance(TimeSpan.FromSeconds(1));
        var added = Thumbprint(cache.Get("new.example"));
        _time.Advance(TimeSpan.FromSeconds(1));

        // The least recently used hosts make room, not the one that was just asked for.
        Assert.Equal(added, Thumbprint(cache.Get("new.example")));
    }

    [Fact]
    public async Task Get_ConcurrentFirstContacts_MintOnce()
    {
        using var cache = Cache();
        var minted = 0L;
        using var listener = CountMinted(() => Interlocked.Increment(ref minted));
        using var start = new Barrier(16);

        var thumbprints = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() =>
        {
            start.SignalAndWait(TestContext.Current.CancellationToken);
            return Thumbprint(cache.Get("remote.example"));
        }, TestContext.Current.CancellationToken)));

        Assert.Single(thumbprints.Distinct());
        Assert.Equal(1, cache.Count);
        Assert.Equal(1, Interlocked.Read(ref minted));
    }

    [Fact]
    public void Get_Repeatedly_CountsOnlyMintedCertificates()
    {
        using var cache = Cache();
        var minted = 0L;
        using var listener = CountMinted(() => minted++);

        cache.Get("a.example");
        cache.Get("a.example");
        cache.Get("b.example");
        _time.Advance(s_validity);
        cache.Get("a.example");

        Assert.Equal(3, minted);
    }

    [Fact]
    public void Prefetch_MintFails_NeitherEndsTheProcessNorStaysCached()
    {
        var authority = CertificateAuthority.Load(_caPaths.Certificate, _caPaths.Key, s_start);
        using var cache = new LeafCertificateCache(authority, Options.Create(new OutboundOptions { LeafValidity = s_validity }), _time,
            new OutboundMetrics(_services.GetRequiredService<IMeterFactory>()));
        authority.Dispose();

        // The background mint fails (a disposed CA, as at shutdown); the handshake's Get reports it, once.
        Assert.True(cache.Prefetch("broken.example"));
        Assert.ThrowsAny<Exception>(() => cache.Get("broken.example"));

        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Prefetch_ThenDispose_WaitsForTheMintInTheBackground()
    {
        var cache = Cache();
        var minted = 0L;
        using var listener = CountMinted(() => Interlocked.Increment(ref minted));

        Assert.True(cache.Prefetch("a.example"));
        Assert.True(cache.Prefetch("b.example"));
        cache.Dispose();

        // Shutdown disposes the CA after the cache: no mint may still be running on it then.
        Assert.Equal(2, Interlocked.Read(ref minted));
    }

    [Fact]
    public async Task Prefetch_ThenDisposeAsync_WaitsForTheMintInTheBackground()
    {
        var cache = Cache();
        var minted = 0L;
        using var listener = CountMinted(() => Interlocked.Increment(ref minted));

        Assert.True(cache.Prefetch("a.example"));
        await cache.DisposeAsync();

        Assert.Equal(1, Interlocked.Read(ref minted));
    }

    private LeafCertificateCache Cache(int capacity = 100)
    {
        var options = Options.Create(new OutboundOptions { LeafValidity = s_validity, MaxCachedCertificates = capacity });
        return new LeafCertificateCache(_authority, options, _time, new OutboundMetrics(_services.GetRequiredService<IMeterFactory>()));
    }

    // Listens only to the meters of this test's factory, so other tests minting at the same time do not count.
    private MeterListener CountMinted(Action onMinted)
    {
        var factory = _services.GetRequiredService<IMeterFactory>();
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name == "certificates_minted_total")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            for (var i = 0; i < value; i++)
            {
                onMinted();
            }
        });
        listener.Start();
        return listener;
    }

    private static string Thumbprint(SslStreamCertificateContext context) => context.TargetCertificate.Thumbprint;
}
