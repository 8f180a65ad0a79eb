using System.Collections.Concurrent;
using System.Diagnostics;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// Starts child processes that die with the test process however it ends (a crash, a killed test run), so
/// they cannot outlive it holding ports: each is started through <c>setpriv --pdeathsig KILL</c> from one
/// dedicated thread. The parent-death signal fires when the thread that forked the child ends — so not a
/// pool thread, which may retire at any time — and therefore also for whatever is still running when the
/// launcher is disposed. Linux only.
/// </summary>
public sealed class ChildProcessLauncher : IDisposable
{
    private readonly BlockingCollection<(Func<Process> Start, TaskCompletionSource<Process> Started)> _starts = new();
    private readonly Thread _thread;

    public ChildProcessLauncher()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "child process launcher" };
        _thread.Start();
    }

    /// <summary>Starts <paramref name="info"/> (its file and arguments run under setpriv); output lines go to the callbacks.</summary>
    public Task<Process> StartAsync(ProcessStartInfo info, Action<string> onStdout, Action<string> onStderr)
    {
        var wrapped = new ProcessStartInfo("setpriv")
        {
            RedirectStandardInput = info.RedirectStandardInput,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = info.WorkingDirectory,
        };
        foreach (var arg in new[] { "--pdeathsig", "KILL", "--", info.FileName }.Concat(info.ArgumentList))
        {
            wrapped.ArgumentList.Add(arg);
        }

        wrapped.Environment.Clear();
        foreach (var (name, value) in info.Environment)
        {
            wrapped.Environment[name] = value;
        }

        var started = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        _starts.Add((() =>
        {
            var process = new Process { StartInfo = wrapped, EnableRaisingEvents = true };
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) { onStdout(e.Data); } };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { onStderr(e.Data); } };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            return process;
        }, started));
        return started.Task;
    }

    public void Dispose()
    {
        _starts.CompleteAdding();
        _thread.Join();
        _starts.Dispose();
    }

    private void Run()
    {
        foreach (var (start, started) in _starts.GetConsumingEnumerable())
        {
            try
            {
                started.SetResult(start());
            }
            catch (Exception ex)
            {
                started.SetException(ex);
            }
        }
    }
}
