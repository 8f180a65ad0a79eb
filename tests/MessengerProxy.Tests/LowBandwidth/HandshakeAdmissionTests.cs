using System.Diagnostics.Metrics;
using System.Net;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Transport;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.LowBandwidth;

/// <summary>Which DTLS handshakes get state, on a clock the test moves.</summary>
public sealed class HandshakeAdmissionTests : IDisposable
{
    private readonly ManualTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<(object Peer, string Reason)> _ended = [];

    [Fact]
    public void PerSourceNetwork_A24ForIPv4_A64ForIPv6_MappedAddressesCountAsIPv4()
    {
        using var admission = Create(max: 100, perNetwork: 2);

        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("192.0.2.1")));
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("192.0.2.200")));
        Assert.Equal(HandshakeAdmissionResult.NetworkLimit, admission.TryAdmit(new object(), IPAddress.Parse("::ffff:192.0.2.7")));
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("192.0.3.1")));

        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("2001:db8::1")));
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("2001:db8::ffff:1")));
        Assert.Equal(HandshakeAdmissionResult.NetworkLimit, admission.TryAdmit(new object(), IPAddress.Parse("2001:db8::2")));
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("2001:db8:0:1::1")));

        Assert.Equal(6, admission.Count);
        Assert.Empty(_ended);
    }

    [Fact]
    public void Complete_FreesTheSlotAndTheNetworksAllowance()
    {
        using var admission = Create(max: 1, perNetwork: 1);
        var first = new object();
        admission.TryAdmit(first, IPAddress.Parse("192.0.2.1"));

        admission.Complete(first);
        admission.Complete(first);

        Assert.Equal(0, admission.Count);
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("192.0.2.2")));
    }

    [Fact]
    public void Full_TheOldestStalledHandshakeMakesRoom_NeverOneThatAnswered_NorOneYoungerThanASecond()
    {
        using var admission = Create(max: 3, perNetwork: 10);
        var answered = new object();
        var oldest = new object();
        var younger = new object();
        admission.TryAdmit(answered, IPAddress.Parse("192.0.2.1"));
        admission.Progress(answered);
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        admission.TryAdmit(oldest, IPAddress.Parse("192.0.2.2"));
        _clock.Advance(TimeSpan.FromMilliseconds(100));
        admission.TryAdmit(younger, IPAddress.Parse("192.0.2.3"));

        // Everyone has had less than a second to answer: the newcomer waits (its client retransmits).
        Assert.Equal(HandshakeAdmissionResult.Full, admission.TryAdmit(new object(), IPAddress.Parse("192.0.2.4")));

        _clock.Advance(TimeSpan.FromSeconds(1));
        var newcomer = new object();
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(newcomer, IPAddress.Parse("192.0.2.4")));

        var (peer, reason) = Assert.Single(_ended);
        Assert.Same(oldest, peer);
        Assert.StartsWith("evicted", reason);
        Assert.Equal(3, admission.Count);

        // The evicted one's own end changes nothing; the next eviction takes the next oldest stalled one.
        admission.Complete(oldest);
        Assert.Equal(3, admission.Count);
        Assert.Equal(HandshakeAdmissionResult.Admitted, admission.TryAdmit(new object(), IPAddress.Parse("192.0.2.5")));
        Assert.Same(younger, _ended[1].Peer);
    }

    [Fact]
    public void Sweep_EndsHandshakesSilentPastTheStallTimeout_NotOnesThatAnswered()
    {
        using var admission = Create(max: 10, perNetwork: 10, stall: TimeSpan.FromSeconds(5));
        var silent = new object();
        var answered = new object();
        admission.TryAdmit(silent, IPAddress.Parse("192.0.2.1"));
        admission.TryAdmit(answered, IPAddress.Parse("192.0.2.2"));
        admission.Progress(answered);

        _clock.Advance(TimeSpan.FromSeconds(4.9));
        admission.Sweep();
        Assert.Empty(_ended);

        _clock.Advance(TimeSpan.FromSeconds(0.1));
        admission.Sweep();

        var (peer, reason) = Assert.Single(_ended);
        Assert.Same(silent, peer);
        Assert.StartsWith("stalled", reason);
        Assert.Equal(1, admission.Count);
    }

    public void Dispose() => _services.Dispose();

    private HandshakeAdmission<object> Create(int max, int perNetwork, TimeSpan? stall = null) => new(
        new LowBandwidthOptions { MaxConcurrentHandshakes = max, MaxHandshakesPerSourceNetwork = perNetwork, HandshakeStallTimeout = stall ?? TimeSpan.FromMinutes(10) },
        _clock,
        new LowBandwidthMetrics(_services.GetRequiredService<IMeterFactory>()),
        (peer, reason) =>
        {
            lock (_ended)
            {
                _ended.Add((peer, reason));
            }
        });
}
