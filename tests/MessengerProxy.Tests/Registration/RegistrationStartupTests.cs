using System.Diagnostics;
using MessengerProxy.Tests.TestKit;
using Npgsql;

namespace MessengerProxy.Tests.Registration;

/// <summary>The registration executable: migrations as a separate command, and one-line configuration errors.</summary>
public sealed class RegistrationStartupTests(PostgresFixture postgres)
{
    private static string Executable => Path.Combine(AppContext.BaseDirectory, "MessengerProxy.Registration.dll");

    [Fact]
    public async Task MigrateCommand_CreatesTheSchemaAndExits()
    {
        var connectionString = await postgres.CreateDatabaseAsync();

        var (exitCode, stderr) = await RunAsync("--migrate", $"--Registration:ConnectionString={connectionString}", $"--Registration:AdminToken={RegistrationHost.AdminToken}");

        Assert.True(exitCode == 0, stderr);
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_name IN ('federation_list_versions','federation_domains','support_information','support_contacts','__EFMigrationsHistory')", connection);
        Assert.Equal(5L, await command.ExecuteScalarAsync(TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("Registration:ConnectionString is required", "--Registration:AdminToken=" + RegistrationHost.AdminToken)]
    [InlineData("Registration:AdminToken must be at least 32 characters (got 5)", "--Registration:ConnectionString=Host=x", "--Registration:AdminToken=short")]
    [InlineData("Registration:Vzd:Algorithms: 'RS256' is not BP256R1 or ES256", "--Registration:ConnectionString=Host=x", "--Registration:AdminToken=" + RegistrationHost.AdminToken, "--Registration:Vzd:Algorithms:0=RS256")]
    [InlineData("Registration:Vzd:FederationListUrl is set but Registration:Vzd:TrustAnchors is empty", "--Registration:ConnectionString=Host=x", "--Registration:AdminToken=" + RegistrationHost.AdminToken, "--Registration:Vzd:FederationListUrl=https://vzd.example/list.jws")]
    public async Task InvalidConfiguration_ExitsWithOneReadableLine(string expected, params string[] args)
    {
        var (exitCode, stderr) = await RunAsync(args);

        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
    }

    [Fact]
    public async Task DatabaseUnreachable_ExitsWithOneReadableLine()
    {
        var (exitCode, stderr) = await RunAsync($"--Registration:ConnectionString=Host=127.0.0.1;Port={LoopbackPorts.Tcp()};Database=x;Username=x;Timeout=3",
            $"--Registration:AdminToken={RegistrationHost.AdminToken}", "--Registration:Port=0", "--Registration:HealthPort=0");

        Assert.Equal(1, exitCode);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.StartsWith("messenger-registration: cannot start: ", lines[0]);
    }

    private static async Task<(int ExitCode, string Stderr)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(Executable);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        _ = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stderr);
    }
}
