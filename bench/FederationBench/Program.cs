using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Running;
using MessengerProxy.Federation;
using MessengerProxy.Policy.Federation;

if (args.Contains("--swap"))
{
    SwapUnderLoad.Run();
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(LookupBenchmarks).Assembly).Run(args);

/// <summary>The per-request cost of a federation check against a 100 000-domain list.</summary>
[MemoryDiagnoser]
public class LookupBenchmarks
{
    private FederationList _list = null!;

    [Params(100_000)]
    public int Domains { get; set; }

    [GlobalSetup]
    public void Setup() => _list = Lists.Create(Domains, version: 1);

    [Benchmark(Description = "listed domain")]
    public bool Listed() => _list.Contains("host54321.example-provider.de");

    [Benchmark(Description = "unlisted domain")]
    public bool Unlisted() => _list.Contains("stranger.example.org");

    [Benchmark(Description = "listed, other case")]
    public bool OtherCase() => _list.Contains("HOST54321.Example-Provider.DE");

    [Benchmark(Description = "origin with port: parse + look-up")]
    public bool ServerNameWithPort() =>
        ServerNames.TryGetHost("host54321.example-provider.de:8448", out var host) && _list.Contains(host);

    [Benchmark(Description = "IK of an insurance → server name")]
    public bool IkHit() => _list.TryFindInsurerByIk("100054300", out _);

    [Benchmark(Description = "IK not in the list")]
    public bool IkMiss() => _list.TryFindInsurerByIk("999999999", out _);

    [Benchmark(Description = "isInsurance: parse server name + entry look-up")]
    public bool IsInsurance() =>
        ServerNames.TryGetHost("host54300.example-provider.de:8448", out var host) && _list.TryGetEntry(host, out var entry) && entry.IsInsurance;

    [Benchmark(Description = "build a new 100k list (off the request path)")]
    public int Build() => Lists.Create(Domains, version: 2).Count;
}

internal static class Lists
{
    public static FederationList Create(int count, long version) =>
        new(version, Enumerable.Range(0, count).Select(i => new FederationDomain($"host{i}.example-provider.de", $"1-{i}", i % 50 == 0) { Ik = i % 50 == 0 ? [(100_000_000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture)] : [] }));
}

/// <summary>
/// Look-ups keep running on all but one core while the remaining thread builds and swaps in new 100 000-domain
/// lists as fast as it can; reports look-up throughput with and without swapping and the slowest look-up seen.
/// </summary>
internal static class SwapUnderLoad
{
    public static void Run()
    {
        var current = Lists.Create(100_000, 1);
        var readers = Math.Max(1, Environment.ProcessorCount - 1);
        Console.WriteLine($"readers: {readers}, list: {current.Count} domains");

        foreach (var swapping in new[] { false, true })
        {
            using var stop = new CancellationTokenSource();
            var swaps = 0;
            var swapTimes = new List<double>();
            var swapper = swapping
                ? Task.Run(() =>
                {
                    var version = 2L;
                    while (!stop.IsCancellationRequested)
                    {
                        var started = Stopwatch.GetTimestamp();
                        var next = Lists.Create(100_000, version++);
                        Volatile.Write(ref current, next);
                        swapTimes.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        swaps++;
                    }
                })
                : Task.CompletedTask;

            var counts = new long[readers];
            var worst = new double[readers];
            var workers = Enumerable.Range(0, readers).Select(r => Task.Run(() =>
            {
                var names = new[] { "host54321.example-provider.de", "stranger.example.org", "host7.example-provider.de:8448" };
                long n = 0;
                double slowest = 0;
                while (!stop.IsCancellationRequested)
                {
                    for (var i = 0; i < 1000; i++)
                    {
                        var started = Stopwatch.GetTimestamp();
                        ServerNames.TryGetHost(names[i % 3], out var host);
                        _ = Volatile.Read(ref current).Contains(host);
                        var elapsed = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
                        if (elapsed > slowest)
                        {
                            slowest = elapsed;
                        }
                    }

                    n += 1000;
                }

                counts[r] = n;
                worst[r] = slowest;
            })).ToArray();

            Thread.Sleep(TimeSpan.FromSeconds(5));
            stop.Cancel();
            Task.WaitAll([.. workers, swapper]);
            var perSecond = counts.Sum() / 5.0;
            Console.WriteLine(swapping
                ? $"with swapping:    {perSecond / 1e6:F1} M look-ups/s, slowest look-up {worst.Max():F0} µs; {swaps} swaps, build+swap median {Median(swapTimes):F0} ms, max {swapTimes.Max():F0} ms"
                : $"without swapping: {perSecond / 1e6:F1} M look-ups/s, slowest look-up {worst.Max():F0} µs");
        }
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count == 0 ? 0 : sorted[sorted.Count / 2];
    }
}
