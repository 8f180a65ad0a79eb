using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace MessengerProxy.Tests.TestKit;

/// <summary>The proxy executable as a separate process, for what only a process shows: exit codes, stderr, memory.</summary>
public sealed class ProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout;
    private readonly StringBuilder _stderr;

    private ProxyProcess(Process process, StringBuilder stdout, StringBuilder stderr, int inboundPort, int healthPort)
    {
        _process = process;
        _stdout = stdout;
        _stderr = stderr;
        InboundPort = inboundPort;
        HealthPort = healthPort;
    }

    public int InboundPort { get; }

    public int HealthPort { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public static string ExecutablePath => Path.Combine(AppContext.BaseDirectory, "MessengerProxy.dll");

    /// <summary>Starts the proxy on fresh loopback ports and waits until its inbound port accepts connections.</summary>
    public static async Task<ProxyProcess> StartAsync(string homeserverUrl, params string[] settings)
    {
        var inbound = LoopbackPorts.Tcp();
        var health = LoopbackPorts.Tcp();
        var args = new List<string>
        {
            $"--Inbound:HomeserverUrl={homeserverUrl}", $"--Inbound:Port={inbound}", "--Inbound:BindAddress=127.0.0.1",
            $"--Health:Port={health}", "--Health:BindAddress=127.0.0.1",
        };
        if (!settings.Any(s => s.StartsWith("Outbound:", StringComparison.Ordinal)))
        {
            args.Add("--Outbound:Enabled=false");
        }

        if (!settings.Any(s => s.StartsWith("TimInformation:", StringComparison.Ordinal)))
        {
            args.Add("--TimInformation:Enabled=false");
        }

        if (!settings.Any(s => s.StartsWith("Federation:VerifySignatures=", StringComparison.Ordinal)))
        {
            args.Add("--Federation:VerifySignatures=false");
        }

        args.AddRange(settings.Select(s => "--" + s));
        return await StartWithArgumentsAsync(args, inbound, health);
    }

    /// <summary>
    /// Starts the proxy with exactly <paramref name="args"/> (the caller chose every port, e.g. because other
    /// processes must know them first) and waits until <paramref name="inboundPort"/> accepts connections.
    /// </summary>
    /// <param name="executablePath">The proxy's dll; by default the copy in the test output folder.</param>
    /// <param name="launcher">Starts the process so that it dies with the test process; by default a plain start.</param>
    public static async Task<ProxyProcess> StartWithArgumentsAsync(
        IReadOnlyList<string> args, int inboundPort, int healthPort, string? executablePath = null, ChildProcessLauncher? launcher = null)
    {
        Process process;
        StringBuilder stdout, stderr;
        if (launcher is null)
        {
            (process, stdout, stderr) = Launch(args, executablePath);
        }
        else
        {
            var (info, stdoutLines, stderrLines) = StartInfo(args, executablePath);
            (stdout, stderr) = (stdoutLines, stderrLines);
            process = await launcher.StartAsync(info, Appender(stdout), Appender(stderr));
        }

        var proxy = new ProxyProcess(process, stdout, stderr, inboundPort, healthPort);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"proxy exited with {process.ExitCode}: {stderr}");
            }

            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync("127.0.0.1", inboundPort);
                // A probe of a port nobody listens on yet can connect to itself (TCP simultaneous open, when the
                // kernel picks that very port as the source) and would then keep the proxy from binding it.
                if (((System.Net.IPEndPoint)probe.Client.LocalEndPoint!).Port != inboundPort)
                {
                    return proxy;
                }
            }
            catch (SocketException) when (DateTime.UtcNow < deadline)
            {
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"proxy did not listen on {inboundPort} within 30 s: {stderr}");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>Runs the proxy with the given arguments until it exits (or the timeout kills it).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunToExitAsync(TimeSpan timeout, params string[] args)
    {
        if (!args.Any(a => a.Contains("Outbound:", StringComparison.Ordinal) || a.StartsWith("--ca-", StringComparison.Ordinal)))
        {
            args = [.. args, "--Outbound:Enabled=false"];
        }

        // Its default port 7777 would be shared by every test process on the machine.
        if (!args.Any(a => a.Contains("TimInformation:", StringComparison.Ordinal)))
        {
            args = [.. args, "--TimInformation:Enabled=false"];
        }

        var (process, stdout, stderr) = Launch(args);
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"proxy did not exit within {timeout}; stderr: {stderr}");
        }

        process.WaitForExit();
        var result = (process.ExitCode, stdout.ToString(), stderr.ToString());
        process.Dispose();
        return result;
    }

    /// <summary>Peak resident set size so far (VmHWM), in bytes.</summary>
    public long PeakResidentBytes() => ReadStatusKilobytes("VmHWM:") * 1024;

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    public override string ToString()
    {
        lock (_stderr)
        {
            return _stderr.ToString();
        }
    }

    /// <summary>What the process wrote to stdout (its log) so far.</summary>
    public string Output
    {
        get
        {
            lock (_stdout)
            {
                return _stdout.ToString();
            }
        }
    }

    private long ReadStatusKilobytes(string field)
    {
        var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Action<string> Appender(StringBuilder text) => line =>
    {
        lock (text)
        {
            text.AppendLine(line);
        }
    };

    private static (Process Process, StringBuilder Stdout, StringBuilder Stderr) Launch(IEnumerable<string> args, string? executablePath = null)
    {
        var (info, stdout, stderr) = StartInfo(args, executablePath);
        var process = new Process { StartInfo = info };
        var onStdout = Appender(stdout);
        var onStderr = Appender(stderr);
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { onStdout(e.Data); } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { onStderr(e.Data); } };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, stdout, stderr);
    }

    private static (ProcessStartInfo Info, StringBuilder Stdout, StringBuilder Stderr) StartInfo(IEnumerable<string> args, string? executablePath)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(executablePath ?? ExecutablePath);
        // Tests serve plain JSON lists (FakeRegistrationService, admin PUTs); those that verify signed lists say so.
        if (!args.Any(a => a.Contains("Federation:AllowUnsignedList", StringComparison.Ordinal)))
        {
            args = [.. args, "--Federation:AllowUnsignedList=true"];
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        // Keep the child's environment predictable whatever the test runner's is.
        info.Environment.Remove("ASPNETCORE_ENVIRONMENT");
        info.Environment.Remove("DOTNET_ENVIRONMENT");
        return (info, new StringBuilder(), new StringBuilder());
    }
}
