using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// The Debian chroot with Synapse and matrix-nio that <c>tools/e2e/provision-synapse.sh</c> builds, and how
/// processes run inside it. Each process gets private mount and PID namespaces (<c>unshare</c>): <c>/proc</c>
/// is mounted there, the run folder is bound at <c>/e2e</c> and the run's <c>hosts</c> and <c>resolv.conf</c>
/// over the chroot's. Nothing is mounted in the host's namespace and the chroot itself is never written, so
/// concurrent runs cannot disturb each other and every mount is gone when its process ends, however the run ends.
/// </summary>
/// <remarks>
/// Processes are started by a <see cref="ChildProcessLauncher"/> (parent-death signal): if the test process
/// dies without disposing, its Synapses die with it instead of holding ports.
/// </remarks>
public sealed class SynapseChroot : IDisposable
{
    public const string ChrootVariable = "MP_E2E_CHROOT";
    public const string CacheVariable = "MP_E2E_CACHE";
    public const string DefaultCache = "/var/cache/messengerproxy-e2e";

    /// <summary>Where the run folder appears inside the chroot.</summary>
    public const string RunMount = "/e2e";

    private const string MountAndEnter =
        "run=$1 root=$2; shift 2; "
        + "mount --bind \"$run\" \"$root/e2e\" && mount --bind \"$run/hosts\" \"$root/etc/hosts\" "
        + "&& mount --bind \"$run/resolv.conf\" \"$root/etc/resolv.conf\" && exec chroot \"$root\" \"$@\"";

    private SynapseChroot(string root)
    {
        Root = root;
    }

    public string Root { get; }

    /// <summary>Starts every process of the run, in the chroot or not (the proxies), so that all die with the test process.</summary>
    public ChildProcessLauncher Launcher { get; } = new();

    /// <summary>The chroot to use, or why the end-to-end tests cannot run here.</summary>
    public static (SynapseChroot? Chroot, string? SkipReason) Locate()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess)
        {
            return (null, "the end-to-end tests need root on Linux (chroot, mount namespaces); run ./test.sh as root");
        }

        foreach (var tool in new[] { "unshare", "setpriv", "mount", "chroot" })
        {
            if (!new[] { "/usr/bin", "/bin", "/usr/sbin", "/sbin" }.Any(d => File.Exists(Path.Combine(d, tool))))
            {
                return (null, $"'{tool}' (util-linux/coreutils) is missing");
            }
        }

        string root;
        string? failure = null;
        if (Environment.GetEnvironmentVariable(ChrootVariable) is { Length: > 0 } explicitRoot)
        {
            root = explicitRoot;
        }
        else
        {
            var cache = Environment.GetEnvironmentVariable(CacheVariable) is { Length: > 0 } c ? c : DefaultCache;
            var key = CacheKey();
            root = Path.Combine(cache, key);
            var failed = Path.Combine(cache, key + ".failed");
            failure = File.Exists(failed) ? File.ReadAllText(failed).Trim() : null;
        }

        if (!File.Exists(Path.Combine(root, ".ready")) || !Directory.Exists(Path.Combine(root, "e2e")))
        {
            return (null, $"no Synapse chroot at {root} ({failure ?? "not provisioned"}); build it as root with "
                + "tools/e2e/provision-synapse.sh (needs mmdebstrap and a Debian mirror; ./test.sh and .ci/run do it when they can)");
        }

        return (new SynapseChroot(root), null);
    }

    /// <summary>The cache key provision-synapse.sh uses: the first 16 hex digits of the manifest's SHA-256.</summary>
    public static string CacheKey() =>
        Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(RepoPaths.Combine("tools", "e2e", "synapse-chroot.txt"))))[..16];

    /// <summary>
    /// Starts <paramref name="command"/> inside the chroot with the host folder <paramref name="runDirectory"/>
    /// at <see cref="RunMount"/> (it must hold <c>hosts</c> and <c>resolv.conf</c>). The environment is exactly
    /// <paramref name="environment"/> plus PATH, LANG and HOME. Output lines go to the callbacks.
    /// </summary>
    public Task<Process> StartAsync(
        string runDirectory, IEnumerable<string> command, IReadOnlyDictionary<string, string> environment, Action<string> onStdout, Action<string> onStderr)
    {
        var info = new ProcessStartInfo("unshare") { RedirectStandardInput = true };
        foreach (var arg in new[]
                 {
                     "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", $"--mount-proc={Path.Combine(Root, "proc")}",
                     "--", "/bin/sh", "-c", MountAndEnter, "sh", runDirectory, Root,
                 })
        {
            info.ArgumentList.Add(arg);
        }

        foreach (var arg in command)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Clear();
        info.Environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        info.Environment["LANG"] = "C.UTF-8";
        info.Environment["HOME"] = "/root";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        return Launcher.StartAsync(info, onStdout, onStderr);
    }

    /// <summary>Runs a command inside the chroot to its end, with <paramref name="stdin"/> as its input.</summary>
    public async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(
        string runDirectory, IEnumerable<string> command, string stdin, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        var process = await StartAsync(
            runDirectory, command, new Dictionary<string, string> { ["PYTHONDONTWRITEBYTECODE"] = "1" },
            line => { lock (stdout) { stdout.AppendLine(line); } },
            line => { lock (stderr) { stderr.AppendLine(line); } });
        using (process)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{string.Join(' ', command)} did not finish within {timeout}; stderr: {stderr}");
            }

            process.WaitForExit();
            lock (stdout)
            {
                lock (stderr)
                {
                    return (process.ExitCode, stdout.ToString(), stderr.ToString());
                }
            }
        }
    }

    /// <summary>Ends the launcher, and with it (parent-death signal) anything the run left running.</summary>
    public void Dispose() => Launcher.Dispose();
}
