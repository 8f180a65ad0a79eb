using System.Diagnostics.Metrics;
using Prometheus;

namespace MessengerProxy.Hosting.Metrics;

/// <summary>
/// Publishes this host's System.Diagnostics.Metrics instruments (the proxy's own and ASP.NET Core's,
/// all created through the host's <see cref="IMeterFactory"/>) plus process statistics, for
/// prometheus-net's exporter (<see cref="Health.ActuatorEndpoints"/>) to serve. The registry belongs to
/// the host, so several hosts in one process do not mix.
/// </summary>
internal sealed class PrometheusExporter : IDisposable
{
    private static readonly double[] s_latencyBuckets =
        [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

    private readonly IDisposable _adapter;

    public PrometheusExporter(IMeterFactory meterFactory)
    {
        Registry = Prometheus.Metrics.NewCustomRegistry();
        DotNetStats.Register(Registry);
        _adapter = MeterAdapter.StartListening(new MeterAdapterOptions
        {
            Registry = Registry,
            MetricFactory = Prometheus.Metrics.WithCustomRegistry(Registry),
            InstrumentFilterPredicate = instrument => ReferenceEquals(instrument.Meter.Scope, meterFactory),
            // Label sets here are few and bounded; expiring them would look like counter resets.
            MetricsExpireAfter = TimeSpan.FromDays(1),
            ResolveHistogramBuckets = _ => s_latencyBuckets,
        });
    }

    public CollectorRegistry Registry { get; }

    public void Dispose() => _adapter.Dispose();
}
