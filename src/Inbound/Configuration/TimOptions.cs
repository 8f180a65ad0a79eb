using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Configuration;

/// <summary>The TIM rulebook (configuration section <c>Tim</c>): endpoint overrides and room and content rules.</summary>
internal sealed class TimOptions
{
    public const string SectionName = "Tim";

    internal static readonly string[] DefaultAllowedRoomVersions = ["9", "10"];

    /// <summary>
    /// The whole rulebook; <c>false</c> makes the proxy a plain Matrix v1.11 proxy. On by default: the proxy exists to
    /// front a TI-Messenger homeserver, and a rule that is off by mistake is a certification finding.
    /// </summary>
    public bool Enabled { get; set; } = true;

    public TimSwitches Overrides { get; set; } = new();

    public TimSwitches Rules { get; set; } = new();

    public TimRoomVersionOptions RoomVersions { get; set; } = new();

    /// <summary>Events older than this cannot be redacted (A_28358).</summary>
    public TimeSpan RedactionWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Longest presence <c>status_msg</c>, in Unicode code points.</summary>
    public int MaxStatusMessageLength { get; set; } = 250;

    /// <summary>Who enforces invite permission configurations: the proxy (default) or the clients.</summary>
    public InviteCheckMode InviteCheck { get; set; } = InviteCheckMode.Proxy;

    public TimInvitePermissionOptions InvitePermissions { get; set; } = new();

    public TimTokenCacheOptions TokenCache { get; set; } = new();

    public HomeserverAdminOptions Admin { get; set; } = new();

    public OrphanedRoomOptions OrphanedRooms { get; set; } = new();

    /// <summary>The rulebook these settings put in force.</summary>
    internal TimRulebook ToRulebook()
    {
        if (!Enabled)
        {
            return TimRulebook.Off;
        }

        var disabledOverrides = Overrides.Disabled.ToHashSet(StringComparer.Ordinal);
        var disabledRules = Rules.Disabled.ToHashSet(StringComparer.Ordinal);
        return new TimRulebook(
            TimOverrideTable.Load().Where(o => !disabledOverrides.Contains(o.Id)),
            TimRules.All.Where(r => !disabledRules.Contains(r.Name) && (r != TimRules.InvitePermission || InviteCheck == InviteCheckMode.Proxy)));
    }
}

/// <summary>Parts of the rulebook switched off by name.</summary>
internal sealed class TimSwitches
{
    /// <summary>Override ids (<c>Tim:Overrides:Disabled</c>) or rule names (<c>Tim:Rules:Disabled</c>) to switch off.</summary>
    public List<string> Disabled { get; set; } = [];
}

internal sealed class TimRoomVersionOptions
{
    /// <summary>Room versions createRoom and upgrades may ask for; empty (unset) means 9 and 10.</summary>
    public List<string> Allowed { get; set; } = [];

    /// <summary>The version a createRoom without <c>room_version</c> gets; must be allowed.</summary>
    public string Default { get; set; } = "10";

    /// <summary>
    /// The configured list, or the default one. (A default list in the property would be appended to by the
    /// configuration binder rather than replaced.)
    /// </summary>
    internal IReadOnlyList<string> EffectiveAllowed => Allowed.Count == 0 ? TimOptions.DefaultAllowedRoomVersions : Allowed;
}
