using System.Collections.Concurrent;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>
/// The tasks a transport starts and does not await where it starts them (each datagram's handling, each
/// observation's push loop), kept so that shutdown can wait for all of them instead of leaving them running
/// against a stopped host.
/// </summary>
internal sealed class BackgroundWork
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Tasks still running.</summary>
    public int Count => _running.Count;

    /// <summary>Keeps <paramref name="task"/> until it completes; it must not throw (faults are swallowed when draining).</summary>
    public void Track(Task task)
    {
        if (task.IsCompleted)
        {
            return;
        }

        _running.TryAdd(task, 0);
        task.ContinueWith(static (done, state) => ((ConcurrentDictionary<Task, byte>)state!).TryRemove(done, out _), _running,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Starts <paramref name="work"/> on the thread pool and tracks it.</summary>
    public void Run(Func<Task> work) => Track(Task.Run(work, CancellationToken.None));

    /// <summary>Completes once every tracked task has, including those started by tracked tasks meanwhile; call after cancelling them.</summary>
    public async Task DrainAsync(CancellationToken cancellationToken)
    {
        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Keys).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            cancellationToken.ThrowIfCancellationRequested();
        }
    }
}
