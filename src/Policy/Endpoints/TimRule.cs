namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// One rule of the TIM rulebook: its name (a metrics label and the key an operator disables it by) and the gematik
/// requirement it implements ("-" where there is none). Logs and metrics name refusals by these two only.
/// </summary>
internal sealed record TimRule(string Name, string Requirement)
{
    public override string ToString() => Requirement == "-" ? Name : $"{Name} ({Requirement})";
}

/// <summary>The room and content rules of the TIM rulebook (the endpoint overrides are rows of <see cref="TimOverrideTable"/>).</summary>
internal static class TimRules
{
    /// <summary>createRoom and room upgrades: only the allowed room versions; createRoom without one gets the default.</summary>
    public static readonly TimRule RoomVersion = new("room-version", "A_26202, A_26203");

    /// <summary>createRoom invites at most one user.</summary>
    public static readonly TimRule SingleInvitee = new("single-invitee", "A_25368-01");

    /// <summary>createRoom may not use the retired room type <c>de.gematik.tim.roomtype.default.v2</c>.</summary>
    public static readonly TimRule ForbiddenRoomType = new("forbidden-room-type", "A_28596");

    /// <summary>Public rooms are created with <c>m.federate: false</c>.</summary>
    public static readonly TimRule PublicRoomNotFederated = new("public-room-not-federated", "A_26515-01");

    /// <summary>No <c>join_rule: public</c> through the state API.</summary>
    public static readonly TimRule PublicJoinRule = new("public-join-rule", "A_28271");

    /// <summary>No thread relations on <c>/send</c>.</summary>
    public static readonly TimRule NoThreads = new("no-threads", "A_25395-02");

    /// <summary>A reaction is an annotation whose key is exactly one emoji.</summary>
    public static readonly TimRule ReactionSingleEmoji = new("reaction-single-emoji", "A_26228-01");

    /// <summary>Events older than the redaction window cannot be redacted.</summary>
    public static readonly TimRule RedactionWindow = new("redaction-window", "A_28358");

    /// <summary>No guest accounts.</summary>
    public static readonly TimRule GuestRegistration = new("guest-registration", "-");

    /// <summary>Presence status messages are bounded.</summary>
    public static readonly TimRule StatusMessageLength = new("status-message-length", "-");

    /// <summary>An invite needs the invitee's permission configuration to allow the inviter (federation, /invite, createRoom).</summary>
    public static readonly TimRule InvitePermission = new("invite-permission", "A_25044, A_26389");

    /// <summary>A permission configuration the homeserver does not have is read as the configured default.</summary>
    public static readonly TimRule PermissionConfigDefault = new("permission-config-default", "A_25044, A_26389");

    public static IReadOnlyList<TimRule> All { get; } =
    [
        RoomVersion, SingleInvitee, ForbiddenRoomType, PublicRoomNotFederated, PublicJoinRule, NoThreads,
        ReactionSingleEmoji, RedactionWindow, GuestRegistration, StatusMessageLength, InvitePermission, PermissionConfigDefault,
    ];
}
