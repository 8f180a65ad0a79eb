using System.Diagnostics;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// Waits for a condition that follows from work in the background (a sender, a poller, a request on loopback).
/// The bound is a hang guard, not a timing assertion: it only stops a broken test, with a message saying what
/// did not happen.
/// </summary>
public static class Poll
{
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(30);

    public static Task UntilAsync(Func<bool> condition, string what = "the condition") => UntilAsync(() => Task.FromResult(condition()), what);

    public static async Task UntilAsync(Func<Task<bool>> condition, string what = "the condition")
    {
        var started = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(started.Elapsed < s_bound, $"{what} was not reached within {s_bound.TotalSeconds} s");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
