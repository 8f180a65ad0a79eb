using System.Diagnostics;

namespace MessengerProxy.Tests.TestKit;

/// <summary>curl, an HTTP client independent of .NET, for the tests that should not trust our own stack.</summary>
public static class Curl
{
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("--silent");
        info.ArgumentList.Add("--show-error");
        info.ArgumentList.Add("--max-time");
        info.ArgumentList.Add("30");
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException("curl could not be started (apt-get install curl)");
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        return (process.ExitCode, await stdout, await stderr);
    }
}
