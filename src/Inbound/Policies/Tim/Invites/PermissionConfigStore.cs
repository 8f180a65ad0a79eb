using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Policies.Tim.Invites;

/// <summary>
/// The invitees' permission configurations, read from the homeserver's admin API
/// (<c>GET /_synapse/admin/v1/users/{userId}/accountdata</c>, global account data; the Pro type first, then ePA,
/// then Basis) and cached per user for <c>Tim:InvitePermissions:CacheTtl</c>. A write of one of the types through
/// this proxy drops the user's entry, before it is forwarded and again when the homeserver has answered, so a read
/// that overlapped the write cannot put the old configuration back.
/// </summary>
internal sealed class PermissionConfigStore
{
    // A user's global account data is small (push rules, m.direct, a few settings); more is refused, not parsed.
    private const int MaxAccountDataBytes = 8 * 1024 * 1024;

    private readonly HomeserverAdminClient _admin;
    private readonly ILogger _logger;
    private readonly BoundedTtlCache<string, PermissionConfig> _cache;
    private readonly PermissionDefault _default;
    private readonly int _maxExceptions;
    private long _generation;

    public PermissionConfigStore(HomeserverAdminClient admin, IOptions<TimOptions> tim, TimeProvider time, ILogger<PermissionConfigStore> logger)
    {
        _admin = admin;
        _logger = logger;
        var options = tim.Value.InvitePermissions;
        _default = options.Default;
        _maxExceptions = options.MaxExceptions;
        _cache = new BoundedTtlCache<string, PermissionConfig>(time, options.CacheTtl, options.MaxCachedUsers, StringComparer.Ordinal);
    }

    /// <summary>The user's configuration, or why it could not be read (a metrics label and a log reason).</summary>
    public async ValueTask<(PermissionConfig? Config, string? FailureLabel, string? FailureDetail)> GetAsync(string userId, CancellationToken cancellationToken)
    {
        if (_cache.TryGet(userId, out var cached))
        {
            return (cached, null, null);
        }

        var generation = Interlocked.Read(ref _generation);
        var response = await _admin.SendAsync(HttpMethod.Get, $"/_synapse/admin/v1/users/{Uri.EscapeDataString(userId)}/accountdata", null, MaxAccountDataBytes, cancellationToken);
        if (response.Failure != AdminFailure.None)
        {
            return (null, AdminResponse.Label(response.Failure), response.Detail);
        }

        if (response.Status == 404)
        {
            // No such local user: nothing to protect, and the homeserver refuses the invite itself; still no reason to forward it.
            return (null, "unknown_invitee", "the homeserver knows no such user");
        }

        if (!response.IsSuccess)
        {
            return (null, "status", $"the homeserver answered {response.Status}");
        }

        PermissionConfig config;
        try
        {
            config = Read(response.Body);
        }
        catch (JsonException)
        {
            return (null, "bad_response", "the account data is not JSON");
        }

        if (Interlocked.Read(ref _generation) == generation)
        {
            _cache.Set(userId, config);
        }

        return (config, null, null);
    }

    public void Forget(string userId)
    {
        Interlocked.Increment(ref _generation);
        _cache.Remove(userId);
    }

    private PermissionConfig Read(ReadOnlyMemory<byte> body)
    {
        using var document = JsonDocument.Parse(body);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("account_data", out var accountData) || accountData.ValueKind != JsonValueKind.Object
            || !accountData.TryGetProperty("global", out var global) || global.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException("no account_data.global object");
        }

        foreach (var type in PermissionConfigTypes.All)
        {
            if (global.TryGetProperty(type, out var content))
            {
                var config = PermissionConfig.Parse(content, type, _default, _maxExceptions, out var malformed);
                if (malformed is not null)
                {
                    TimLog.PermissionConfigMalformed(_logger, malformed);
                }

                return config;
            }
        }

        return PermissionConfig.Default(_default);
    }
}
