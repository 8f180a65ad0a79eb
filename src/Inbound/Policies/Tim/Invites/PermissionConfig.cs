using System.Collections.Frozen;
using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Policies.Tim.Invites;

/// <summary>
/// An invitee's permission configuration ("Berechtigungskonfiguration", api-ti-messenger
/// <c>permissionConfig_V1.json</c>), parsed once and kept as sets:
/// the result is <c>defaultSetting</c>, inverted when the inviter's server is in <c>serverExceptions</c>, the
/// inviter is in <c>userExceptions</c>, or <c>isInsuredPerson</c> is in <c>groupExceptions</c> and the inviter's
/// server is an insurance in the federation list.
/// </summary>
internal sealed class PermissionConfig
{
    private const string InsuredGroup = "isInsuredPerson";

    private readonly FrozenSet<string> _servers;
    private readonly FrozenSet<string> _users;

    private PermissionConfig(bool allowByDefault, FrozenSet<string> servers, FrozenSet<string> users, bool insuredException)
    {
        AllowByDefault = allowByDefault;
        _servers = servers;
        _users = users;
        InsuredException = insuredException;
    }

    public bool AllowByDefault { get; }

    /// <summary><c>isInsuredPerson</c> is among the group exceptions: the decision depends on whether the inviter is insured.</summary>
    public bool InsuredException { get; }

    public static PermissionConfig Default(PermissionDefault setting) =>
        new(setting == PermissionDefault.AllowAll, FrozenSet<string>.Empty, FrozenSet<string>.Empty, insuredException: false);

    /// <param name="insured">Whether the inviter's server is an insurance; only asked when <see cref="InsuredException"/>.</param>
    public bool Allows(string inviter, string inviterServer, bool insured)
    {
        var excepted = _servers.Contains(inviterServer) || _users.Contains(inviter) || (InsuredException && insured);
        return AllowByDefault != excepted;
    }

    /// <summary>
    /// Reads a configuration. What breaks the schema is read tolerantly: unknown members are ignored; an exception
    /// member of the wrong type counts as empty; <c>groupExceptions</c> entries may be <c>{"groupName":…}</c> objects
    /// (the schema) or bare strings (what its malformed <c>items</c> lets clients write). A document that is no
    /// object, lacks a known <c>defaultSetting</c> or lists more than <paramref name="maxExceptions"/> entries in
    /// one map is malformed: <paramref name="malformed"/> says why, and the configured default applies.
    /// </summary>
    public static PermissionConfig Parse(JsonElement config, string type, PermissionDefault fallback, int maxExceptions, out string? malformed)
    {
        malformed = null;
        if (config.ValueKind != JsonValueKind.Object)
        {
            malformed = "not a JSON object";
            return Default(fallback);
        }

        bool allowByDefault;
        if (config.TryGetProperty("defaultSetting", out var setting) && setting.ValueKind == JsonValueKind.String && setting.ValueEquals("allow all"))
        {
            allowByDefault = true;
        }
        else if (setting.ValueKind == JsonValueKind.String && setting.ValueEquals("block all"))
        {
            allowByDefault = false;
        }
        else
        {
            malformed = "defaultSetting is not \"allow all\" or \"block all\"";
            return Default(fallback);
        }

        var servers = Keys(config, "serverExceptions", maxExceptions, StringComparer.OrdinalIgnoreCase, ref malformed);
        var users = Keys(config, "userExceptions", maxExceptions, StringComparer.Ordinal, ref malformed);
        var insured = type != PermissionConfigTypes.Epa && HasInsuredGroup(config, maxExceptions, ref malformed);
        return malformed is null ? new PermissionConfig(allowByDefault, servers, users, insured) : Default(fallback);
    }

    private static FrozenSet<string> Keys(JsonElement config, string member, int max, StringComparer comparer, ref string? malformed)
    {
        if (!config.TryGetProperty(member, out var map) || map.ValueKind != JsonValueKind.Object)
        {
            return FrozenSet<string>.Empty;
        }

        var keys = new List<string>();
        foreach (var entry in map.EnumerateObject())
        {
            if (keys.Count == max)
            {
                malformed ??= $"{member} has more than {max} entries";
                return FrozenSet<string>.Empty;
            }

            keys.Add(entry.Name);
        }

        return keys.ToFrozenSet(comparer);
    }

    private static bool HasInsuredGroup(JsonElement config, int max, ref string? malformed)
    {
        if (!config.TryGetProperty("groupExceptions", out var groups) || groups.ValueKind != JsonValueKind.Array)
        {
            return false;
        }

        if (groups.GetArrayLength() > max)
        {
            malformed ??= $"groupExceptions has more than {max} entries";
            return false;
        }

        foreach (var group in groups.EnumerateArray())
        {
            var name = group.ValueKind switch
            {
                JsonValueKind.String => group,
                JsonValueKind.Object when group.TryGetProperty("groupName", out var groupName) && groupName.ValueKind == JsonValueKind.String => groupName,
                _ => default,
            };
            if (name.ValueKind == JsonValueKind.String && name.ValueEquals(InsuredGroup))
            {
                return true;
            }
        }

        return false;
    }
}
