using System.Diagnostics;

namespace MessengerProxy.Tests.TestKit;

/// <summary>openssl s_client through the outbound proxy: a TLS client independent of .NET that checks the minted chain and name.</summary>
internal static class OpensslSClient
{
    /// <summary>
    /// CONNECTs through the proxy to <paramref name="host"/>, verifies the chain against <paramref name="caPath"/> alone and the
    /// name against <paramref name="host"/>, sends <paramref name="requests"/> and reads until the server closes.
    /// </summary>
    public static async Task<(string Stdout, string Stderr)> ThroughProxyAsync(int proxyPort, string host, int port, string caPath, string requests)
    {
        var info = new ProcessStartInfo("openssl") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[]
                 {
                     "s_client", "-proxy", $"127.0.0.1:{proxyPort}", "-connect", $"{host}:{port}",
                     "-servername", host, "-verify_hostname", host, "-verify_return_error", "-CAfile", caPath, "-brief", "-ign_eof",
                 })
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(requests);
        await process.StandardInput.FlushAsync(TestContext.Current.CancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        return (await stdout, await stderr);
    }
}
