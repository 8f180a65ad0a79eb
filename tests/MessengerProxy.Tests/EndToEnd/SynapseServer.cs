using System.Diagnostics;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Npgsql;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>A user created with the shared-secret admin registration API.</summary>
public sealed record MatrixUser(string UserId, string Localpart, string Password, string AccessToken, string DeviceId, string ProxyUrl);

/// <summary>
/// One real Synapse from the chroot, configured from the repository's homeserver.yaml, on its own PostgreSQL
/// database. The tests reach it directly (loopback) only for what operators do on the host: the admin API
/// (registering users, reading what Synapse stored) and requests that must bypass the inbound proxy.
/// </summary>
public sealed class SynapseServer : IAsyncDisposable
{
    private readonly string _secret;
    private readonly List<string> _log = [];
    private Process? _process;

    private SynapseServer(string name, string serverName, int port, string secret, string proxyUrl)
    {
        Name = name;
        ServerName = serverName;
        Port = port;
        _secret = secret;
        ProxyUrl = proxyUrl;
        Direct = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>hs1, hs2, hs3: the host name without port.</summary>
    public string Name { get; }

    /// <summary>The Matrix server name, with the port of its proxy's federation listener.</summary>
    public string ServerName { get; }

    public int Port { get; }

    /// <summary>The URL clients use: this server's proxy (TLS).</summary>
    public string ProxyUrl { get; }

    /// <summary>Plain HTTP straight to Synapse's listener, bypassing the proxy.</summary>
    public HttpClient Direct { get; }

    public MatrixUser Admin { get; private set; } = null!;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log.TakeLast(200));
            }
        }
    }

    public string FullLog
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }

    /// <summary>Writes the configuration into <paramref name="hostDirectory"/> (seen as <paramref name="chrootDirectory"/>) and starts Synapse.</summary>
    public static async Task<SynapseServer> StartAsync(
        SynapseChroot chroot, string runDirectory, string name, SynapseSubstitutions settings, string postgresConnectionString, CancellationToken cancellationToken,
        string? adminPassword = null)
    {
        var hostDirectory = Path.Combine(runDirectory, name);
        Directory.CreateDirectory(Path.Combine(hostDirectory, "media_store"));
        await File.WriteAllTextAsync(Path.Combine(hostDirectory, "homeserver.yaml"), SynapseConfiguration.HomeserverYaml(settings), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(hostDirectory, "log.config"), SynapseConfiguration.LogConfig(), cancellationToken);
        // What `--generate-keys` would write: an ed25519 seed, unpadded base64.
        await File.WriteAllTextAsync(
            Path.Combine(hostDirectory, "signing.key"),
            $"ed25519 a_e2e {Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=')}\n", cancellationToken);

        // Synapse refuses databases whose collation is not C.
        await using (var connection = new NpgsqlConnection(postgresConnectionString))
        {
            await connection.OpenAsync(cancellationToken);
            await using var create = new NpgsqlCommand(
                $"CREATE DATABASE \"{settings.DatabaseName}\" ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0", connection);
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var server = new SynapseServer(name, settings.ServerName, settings.ListenerPort, settings.RegistrationSharedSecret, settings.PublicBaseUrl.TrimEnd('/'));
        void Append(string line)
        {
            lock (server._log)
            {
                server._log.Add(line);
            }
        }

        server._process = await chroot.StartAsync(
            runDirectory,
            ["python3", "-m", "synapse.app.homeserver", "--config-path", $"{settings.ConfigDirectory}/homeserver.yaml"],
            SynapseConfiguration.Environment(settings), Append, Append);
        await server.WaitUntilHealthyAsync(cancellationToken);
        server.Admin = await server.RegisterAsync("admin", admin: true, cancellationToken, adminPassword);
        return server;
    }

    public string UserId(string localpart) => $"@{localpart}:{ServerName}";

    /// <summary>Registers a user through the shared-secret admin API and lifts its rate limits (the tests act faster than people).</summary>
    public async Task<MatrixUser> RegisterAsync(string localpart, bool admin = false, CancellationToken cancellationToken = default, string? password = null)
    {
        password ??= "pw-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));
        var nonce = (await Direct.GetFromJsonAsync<JsonObject>("/_synapse/admin/v1/register", cancellationToken))!["nonce"]!.GetValue<string>();
        var mac = HMACSHA1.HashData(
            Encoding.UTF8.GetBytes(_secret), Encoding.UTF8.GetBytes($"{nonce}\0{localpart}\0{password}\0{(admin ? "admin" : "notadmin")}"));
        using var response = await Direct.PostAsJsonAsync(
            "/_synapse/admin/v1/register",
            new { nonce, username = localpart, password, admin, mac = Convert.ToHexStringLower(mac) }, cancellationToken);
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{Name}: registering {localpart} failed with {(int)response.StatusCode}: {body}");
        }

        var registered = JsonNode.Parse(body)!;
        var user = new MatrixUser(
            registered["user_id"]!.GetValue<string>(), localpart, password, registered["access_token"]!.GetValue<string>(),
            registered["device_id"]!.GetValue<string>(), ProxyUrl);
        if (Admin is not null)
        {
            using var ratelimit = await AdminAsync(HttpMethod.Post, $"/_synapse/admin/v1/users/{Uri.EscapeDataString(user.UserId)}/override_ratelimit",
                new { messages_per_second = 0, burst_count = 0 }, cancellationToken);
        }

        return user;
    }

    /// <summary>A request to Synapse's admin API (or any API) as the admin user, straight to Synapse.</summary>
    public async Task<HttpResponseMessage> AdminAsync(HttpMethod method, string path, object? body = null, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", Admin.AccessToken);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await Direct.SendAsync(request, cancellationToken);
    }

    /// <summary>GET as admin straight to Synapse; fails with Synapse's answer when not 2xx.</summary>
    public async Task<JsonElement> AdminGetAsync(string path, CancellationToken cancellationToken = default)
    {
        using var response = await AdminAsync(HttpMethod.Get, path, cancellationToken: cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{Name}: GET {path} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
            }

            _process.Dispose();
        }

        Direct.Dispose();
    }

    private async Task WaitUntilHealthyAsync(CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (true)
        {
            if (_process!.HasExited)
            {
                throw new InvalidOperationException($"{Name}: Synapse exited with {_process.ExitCode}:\n{Log}");
            }

            try
            {
                using var response = await Direct.GetAsync("/health", cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Name}: Synapse did not answer /health within 120 s:\n{Log}");
            }

            await Task.Delay(200, cancellationToken);
        }
    }
}
