using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MessengerProxy.OutboundLoad;

// Load generator for HTTPS forward proxies with TLS interception. Prints one JSON line on standard output.
//   load mode: --concurrency workers send GETs for --warmup + --duration seconds; only the last --duration count.
//   mint mode (--mint-count N): N never-seen names, one fresh tunnel + request each, sequentially; then the same N again.
LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    Console.Error.WriteLine("usage: OutboundLoad --ca ca.pem --target host:port [--proxy ip:port] [--tunnel-host h] [--connect-address ip]");
    Console.Error.WriteLine("         [--concurrency 32] [--duration 10] [--warmup 2] [--requests-per-tunnel 0|n] [--path p] [--timeout 10]");
    Console.Error.WriteLine("         [--tls-resume] [--timeline] [--label text] [--mint-count n [--mint-prefix h] [--mint-start 1]]");
    return 2;
}

var target = new Target(options);
object result = options.MintCount > 0
    ? await Minting.RunAsync(options, target)
    : await LoadRun.RunAsync(options, target);
// NaN stands for "no successful request" in the percentiles.
var json = new JsonSerializerOptions { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
Console.WriteLine(JsonSerializer.Serialize(result, result.GetType(), json));
return 0;

/// <summary>The measured part of a load run.</summary>
public sealed record LoadResult(
    string Label, string Mode, int Concurrency, double Seconds, long Requests, double Rps,
    double P50Ms, double P90Ms, double P99Ms, double MaxMs, long Errors, long Tunnels, string? FirstError,
    double[] CpuBusyPercent);

/// <summary>Medians and 90th percentiles of first-contact and cached-name requests.</summary>
public sealed record MintResult(
    string Label, int Names, double FirstP50Ms, double FirstP90Ms, double CachedP50Ms, double CachedP90Ms, long Errors, string? FirstError);

/// <summary>Concurrent workers, each with its own tunnel, sending GETs as fast as responses come back.</summary>
public static class LoadRun
{
    public static async Task<LoadResult> RunAsync(LoadOptions options, Target target)
    {
        var request = target.Request(options.TargetHost, options.Path);
        var clock = Stopwatch.StartNew();
        var measureFrom = Ticks(options.WarmupSeconds);
        var measureTo = measureFrom + Ticks(options.DurationSeconds);
        var perSecond = new long[(int)Math.Ceiling(options.WarmupSeconds + options.DurationSeconds) + 2];
        using var stop = new CancellationTokenSource();
        var workers = new Worker[options.Concurrency];
        for (var i = 0; i < workers.Length; i++)
        {
            workers[i] = new Worker(options, target, request, clock, measureFrom, measureTo, perSecond);
        }
        var tasks = workers.Select(w => Task.Run(() => w.RunAsync(stop.Token))).ToArray();
        var cpu = CpuSampler.MeasureAsync(clock, measureFrom, measureTo);
        Task? timeline = options.Timeline ? PrintTimelineAsync(perSecond, clock, measureTo, stop.Token) : null;

        // Workers stop starting requests at measureTo; anything still hanging is cut off a timeout later.
        var all = Task.WhenAll(tasks);
        var grace = TimeSpan.FromSeconds(options.WarmupSeconds + options.DurationSeconds + options.TimeoutSeconds + 1);
        if (await Task.WhenAny(all, Task.Delay(grace)).ConfigureAwait(false) != all)
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
        await all.ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        if (timeline is not null)
        {
            await timeline.ConfigureAwait(false);
        }

        var latencies = workers.SelectMany(w => w.Latencies).ToArray();
        Array.Sort(latencies);
        return new LoadResult(
            options.Label,
            options.RequestsPerTunnel == 0 ? "keep-alive" : $"{options.RequestsPerTunnel}-per-tunnel",
            options.Concurrency,
            options.DurationSeconds,
            latencies.Length,
            Math.Round(latencies.Length / options.DurationSeconds, 1),
            Percentile(latencies, 0.50),
            Percentile(latencies, 0.90),
            Percentile(latencies, 0.99),
            Percentile(latencies, 1.0),
            workers.Sum(w => w.Errors),
            workers.Sum(w => w.Tunnels),
            workers.Select(w => w.FirstError).FirstOrDefault(e => e is not null),
            await cpu.ConfigureAwait(false));
    }

    internal static long Ticks(double seconds) => (long)(seconds * Stopwatch.Frequency);

    internal static double Percentile(long[] sortedTicks, double q)
    {
        if (sortedTicks.Length == 0)
        {
            return double.NaN;
        }
        // Nearest-rank percentile.
        var rank = (int)Math.Ceiling(q * sortedTicks.Length);
        var ticks = sortedTicks[Math.Clamp(rank - 1, 0, sortedTicks.Length - 1)];
        return Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);
    }

    private static async Task PrintTimelineAsync(long[] perSecond, Stopwatch clock, long measureTo, CancellationToken cancellationToken)
    {
        var second = 0;
        try
        {
            while (clock.ElapsedTicks < measureTo + Ticks(1))
            {
                var next = Ticks(second + 1) - clock.ElapsedTicks;
                if (next > 0)
                {
                    await Task.Delay(TimeSpan.FromSeconds((double)next / Stopwatch.Frequency), cancellationToken).ConfigureAwait(false);
                }
                if (second < perSecond.Length)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"t={second + 1,4}s {Interlocked.Read(ref perSecond[second]),8} req/s"));
                }
                second++;
            }
        }
        catch (OperationCanceledException)
        {
            // run over
        }
    }

    private sealed class Worker(LoadOptions options, Target target, byte[] request, Stopwatch clock, long measureFrom, long measureTo, long[] perSecond)
    {
        public List<long> Latencies { get; } = new(1 << 16);

        public long Errors { get; private set; }

        public long Tunnels { get; private set; }

        public string? FirstError { get; private set; }

        public async Task RunAsync(CancellationToken stop)
        {
            var timeout = TimeSpan.FromSeconds(options.TimeoutSeconds);
            var perRequest = CancellationTokenSource.CreateLinkedTokenSource(stop);
            Tunnel? tunnel = null;
            var sent = 0;
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var started = clock.ElapsedTicks;
                    if (started >= measureTo)
                    {
                        break;
                    }
                    perRequest.CancelAfter(timeout);
                    try
                    {
                        if (tunnel is null)
                        {
                            tunnel = await Tunnel.OpenAsync(target, options.TargetHost, perRequest.Token).ConfigureAwait(false);
                            Tunnels++;
                            sent = 0;
                        }
                        var status = await tunnel.SendAsync(request, perRequest.Token).ConfigureAwait(false);
                        sent++;
                        var done = clock.ElapsedTicks;
                        if (status != 200)
                        {
                            throw new IOException($"status {status}");
                        }
                        // Like wrk: what completes inside the window counts, whenever it started.
                        if (done >= measureFrom && done < measureTo)
                        {
                            Latencies.Add(done - started);
                        }
                        var second = (int)(done / Stopwatch.Frequency);
                        if (second < perSecond.Length)
                        {
                            Interlocked.Increment(ref perSecond[second]);
                        }
                        if (tunnel.ServerClosing || (options.RequestsPerTunnel > 0 && sent >= options.RequestsPerTunnel))
                        {
                            await tunnel.DisposeAsync().ConfigureAwait(false);
                            tunnel = null;
                        }
                    }
                    catch (Exception e) when (!stop.IsCancellationRequested)
                    {
                        if (tunnel is not null)
                        {
                            await tunnel.DisposeAsync().ConfigureAwait(false);
                            tunnel = null;
                        }
                        if (clock.ElapsedTicks >= measureFrom)
                        {
                            Errors++;
                            FirstError ??= Describe(e);
                        }
                        // Do not spin when the server refuses outright.
                        await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                    }
                    if (!perRequest.TryReset())
                    {
                        perRequest.Dispose();
                        perRequest = CancellationTokenSource.CreateLinkedTokenSource(stop);
                    }
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // hung request cut off after the run; it is not counted
            }
            finally
            {
                perRequest.Dispose();
                if (tunnel is not null)
                {
                    await tunnel.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    internal static string Describe(Exception e)
    {
        var text = $"{e.GetType().Name}: {e.Message}";
        for (var inner = e.InnerException; inner is not null; inner = inner.InnerException)
        {
            text += $" <- {inner.GetType().Name}: {inner.Message}";
        }
        return text;
    }
}

/// <summary>
/// The cost of a leaf certificate the proxy has to make: one fresh tunnel + handshake + request per name,
/// first to names the proxy has never seen, then to the same names again (its cache).
/// </summary>
public static class Minting
{
    public static async Task<MintResult> RunAsync(LoadOptions options, Target target)
    {
        var names = Enumerable.Range(options.MintStart, options.MintCount)
            .Select(i => $"{options.MintPrefix}{i}.{options.TargetHost}")
            .ToArray();
        long errors = 0;
        string? firstError = null;
        var first = new List<long>(names.Length);
        var cached = new List<long>(names.Length);
        foreach (var pass in new[] { first, cached })
        {
            foreach (var name in names)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(options.TimeoutSeconds));
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await using var tunnel = await Tunnel.OpenAsync(target, name, timeout.Token).ConfigureAwait(false);
                    var status = await tunnel.SendAsync(target.Request(name, options.Path), timeout.Token).ConfigureAwait(false);
                    if (status != 200)
                    {
                        throw new IOException($"status {status}");
                    }
                    pass.Add(Stopwatch.GetTimestamp() - started);
                }
                catch (Exception e)
                {
                    errors++;
                    firstError ??= $"{name}: {LoadRun.Describe(e)}";
                }
            }
        }
        var firstSorted = first.Order().ToArray();
        var cachedSorted = cached.Order().ToArray();
        return new MintResult(
            options.Label,
            names.Length,
            LoadRun.Percentile(firstSorted, 0.5),
            LoadRun.Percentile(firstSorted, 0.9),
            LoadRun.Percentile(cachedSorted, 0.5),
            LoadRun.Percentile(cachedSorted, 0.9),
            errors,
            firstError);
    }
}

/// <summary>Busy share of each CPU (from /proc/stat) over the measured window, to see which side is the bottleneck.</summary>
public static class CpuSampler
{
    public static async Task<double[]> MeasureAsync(Stopwatch clock, long from, long to)
    {
        await DelayUntilAsync(clock, from).ConfigureAwait(false);
        var before = Read();
        await DelayUntilAsync(clock, to).ConfigureAwait(false);
        var after = Read();
        var busy = new double[Math.Min(before.Length, after.Length)];
        for (var i = 0; i < busy.Length; i++)
        {
            var total = after[i].Total - before[i].Total;
            busy[i] = total > 0 ? Math.Round(100.0 * (total - (after[i].Idle - before[i].Idle)) / total, 1) : double.NaN;
        }
        return busy;
    }

    private static async Task DelayUntilAsync(Stopwatch clock, long ticks)
    {
        var wait = ticks - clock.ElapsedTicks;
        if (wait > 0)
        {
            await Task.Delay(TimeSpan.FromSeconds((double)wait / Stopwatch.Frequency)).ConfigureAwait(false);
        }
    }

    private static (long Total, long Idle)[] Read()
    {
        const string Path = "/proc/stat";
        if (!File.Exists(Path))
        {
            return [];
        }
        var cpus = new List<(long, long)>();
        foreach (var line in File.ReadLines(Path))
        {
            // "cpuN user nice system idle iowait irq softirq steal ..."
            if (!line.StartsWith("cpu", StringComparison.Ordinal) || line.Length < 4 || !char.IsAsciiDigit(line[3]))
            {
                continue;
            }
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8)
                .Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            cpus.Add((fields.Sum(), fields[3] + fields[4]));
        }
        return [.. cpus];
    }
}
