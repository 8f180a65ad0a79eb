using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Text;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Outbound;

/// <summary>
/// TLS inside a tunnel is Kestrel's own (its HTTPS connection middleware with a per-connection callback), so
/// Kestrel's TLS metrics cover tunnels like any HTTPS listener. A proxy of its own, so counts are exact.
/// </summary>
public sealed class OutboundTlsInterceptionTests(OutboundTlsInterceptionTests.Fixture fixture) : IClassFixture<OutboundTlsInterceptionTests.Fixture>
{
    [Fact]
    public async Task Handshakes_RecordedInKestrelsTlsMetrics_AFailedOneAlsoCountedAsHandshakeFailed()
    {
        using var handshakes = new KestrelHandshakes(fixture.Proxy.Services.GetRequiredService<IMeterFactory>());

        var (_, tls, client) = await fixture.OpenTunnelAsync("remote.test", fixture.RemotePort);
        using (client)
        await using (tls)
        {
            Assert.Equal(200, (await OutboundFixture.SendInTunnelAsync(tls, "GET", "/_matrix/federation/v1/version", "remote.test")).StatusCode);
        }

        // A client that answers the 200 with something other than a ClientHello.
        using (var broken = new TcpClient())
        {
            await broken.ConnectAsync("127.0.0.1", fixture.ProxyPort, TestContext.Current.CancellationToken);
            var stream = broken.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"CONNECT remote.test:{fixture.RemotePort} HTTP/1.1\r\n\r\n"), TestContext.Current.CancellationToken);
            var buffer = new byte[4096];
            var total = 0;
            int read;
            while (!Encoding.ASCII.GetString(buffer, 0, total).EndsWith("\r\n\r\n", StringComparison.Ordinal)
                   && (read = await stream.ReadAsync(buffer.AsMemory(total), TestContext.Current.CancellationToken)) > 0)
            {
                total += read;
            }

            Assert.Equal("HTTP/1.1 200 Connection Established\r\n\r\n", Encoding.ASCII.GetString(buffer, 0, total));
            await stream.WriteAsync("GET / HTTP/1.1\r\nHost: remote.test\r\n\r\n"u8.ToArray(), TestContext.Current.CancellationToken);
            while (await stream.ReadAsync(buffer, TestContext.Current.CancellationToken) > 0)
            {
            }
        }

        var recorded = await handshakes.WaitForAsync(2);
        Assert.Contains(recorded, tags => tags.ContainsKey("tls.protocol.version") && !tags.ContainsKey("error.type"));
        Assert.Contains(recorded, tags => tags.ContainsKey("error.type"));

        var text = (await RawHttp.SendAsync(fixture.Proxy.HealthPort, RawHttp.Request("GET", "/metrics"))).BodyText;
        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"opened\"} 1", text);
        Assert.Contains("messengerproxy_outbound_tunnels_total{outcome=\"handshake_failed\"} 1", text);
    }

    public sealed class Fixture : OutboundFixture;

    /// <summary>Kestrel's <c>kestrel.tls_handshake.duration</c> measurements of one host, with their tags.</summary>
    private sealed class KestrelHandshakes : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentQueue<Dictionary<string, object?>> _recorded = new();

        public KestrelHandshakes(IMeterFactory hostMeters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (ReferenceEquals(instrument.Meter.Scope, hostMeters) && instrument.Name == "kestrel.tls_handshake.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
            {
                var copy = new Dictionary<string, object?>();
                foreach (var tag in tags)
                {
                    copy[tag.Key] = tag.Value;
                }

                _recorded.Enqueue(copy);
            });
            _listener.Start();
        }

        public async Task<IReadOnlyList<Dictionary<string, object?>>> WaitForAsync(int count)
        {
            // Kestrel records a failed handshake as the connection ends, which may trail the client's view of it.
            for (var attempt = 0; attempt < 200 && _recorded.Count < count; attempt++)
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }

            return [.. _recorded];
        }

        public void Dispose() => _listener.Dispose();
    }
}
