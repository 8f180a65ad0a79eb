using System.Diagnostics;
using MessengerProxy.Tests.TestKit;
using Npgsql;
using Testcontainers.PostgreSql;

[assembly: AssemblyFixture(typeof(PostgresFixture))]

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// One real PostgreSQL server per test run, shared by every database test; each test class gets its own
/// database. Sources, in order: <c>PROXY_TEST_PG</c> (a connection string), Testcontainers when a Docker
/// engine is reachable, a throwaway cluster from the machine's PostgreSQL binaries (run as <c>postgres</c>
/// when the tests run as root, since initdb refuses root). Without any, database tests skip with the reason.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgreSqlContainer? _container;
    private string? _clusterDirectory;
    private string? _binDirectory;

    /// <summary>Connection string of the server's <c>postgres</c> database; null when no server is available.</summary>
    public string? ConnectionString { get; private set; }

    public string Source { get; private set; } = "none";

    public string? SkipReason { get; private set; }

    public async ValueTask InitializeAsync()
    {
        if (Environment.GetEnvironmentVariable("PROXY_TEST_PG") is { Length: > 0 } explicitConnection)
        {
            ConnectionString = explicitConnection;
            Source = "PROXY_TEST_PG";
            return;
        }

        var reasons = new List<string>();
        if (DockerLooksReachable())
        {
            try
            {
                _container = new PostgreSqlBuilder("postgres:16-alpine").Build();
                await _container.StartAsync();
                ConnectionString = _container.GetConnectionString();
                Source = "Testcontainers";
                return;
            }
            catch (Exception ex)
            {
                reasons.Add("Testcontainers: " + ex.Message);
                _container = null;
            }
        }
        else
        {
            reasons.Add("no Docker engine (DOCKER_HOST unset, no /var/run/docker.sock)");
        }

        _binDirectory = FindPostgresBinaries();
        if (_binDirectory is null)
        {
            reasons.Add("no PostgreSQL server binaries (apt-get install postgresql)");
            SkipReason = "no PostgreSQL available: " + string.Join("; ", reasons);
            return;
        }

        try
        {
            await StartLocalClusterAsync();
            Source = "local cluster from " + _binDirectory;
        }
        catch (Exception ex)
        {
            SkipReason = "no PostgreSQL available: " + string.Join("; ", reasons) + "; local cluster: " + ex.Message;
        }
    }

    /// <summary>Creates a fresh, empty database and returns its connection string; skips the test when no server is available.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        Assert.SkipWhen(SkipReason is not null, SkipReason ?? string.Empty);
        var name = "t_" + Guid.NewGuid().ToString("N");
        await using (var connection = new NpgsqlConnection(ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await command.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(ConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }

        if (_clusterDirectory is not null)
        {
            await RunAsync(Path.Combine(_binDirectory!, "pg_ctl"), "-D", Path.Combine(_clusterDirectory, "data"), "-m", "immediate", "-w", "stop");
            Directory.Delete(_clusterDirectory, recursive: true);
        }
    }

    private static bool DockerLooksReachable() =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("DOCKER_HOST")) || File.Exists("/var/run/docker.sock");

    private static string? FindPostgresBinaries()
    {
        var candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").OrderByDescending(d => int.TryParse(Path.GetFileName(d), out var v) ? v : 0).Select(d => Path.Combine(d, "bin"))
            : [];
        var fromPath = (Environment.GetEnvironmentVariable("PATH") ?? string.Empty).Split(':');
        return candidates.Concat(fromPath).FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private async Task StartLocalClusterAsync()
    {
        _clusterDirectory = Directory.CreateTempSubdirectory("mp-pg-").FullName;
        if (Environment.UserName == "root")
        {
            // initdb refuses to run as root; the cluster belongs to the postgres user.
            await RunAsync("chown", "postgres:", _clusterDirectory);
        }

        var port = LoopbackPorts.Tcp();
        var data = Path.Combine(_clusterDirectory, "data");
        await RunAsync(Path.Combine(_binDirectory!, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N");
        await RunAsync(Path.Combine(_binDirectory!, "pg_ctl"), "-D", data, "-l", Path.Combine(_clusterDirectory, "server.log"), "-w", "-t", "60",
            "-o", $"-p {port} -k {_clusterDirectory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start");
        ConnectionString = $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres;Pooling=true";
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        var asPostgres = Environment.UserName == "root" && file != "chown";
        var info = new ProcessStartInfo(asPostgres ? "runuser" : file) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (asPostgres)
        {
            foreach (var prefix in new[] { "-u", "postgres", "--", file })
            {
                info.ArgumentList.Add(prefix);
            }
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} exited with {process.ExitCode}: {(await stderr).Trim()} {(await stdout).Trim()}");
        }
    }
}
