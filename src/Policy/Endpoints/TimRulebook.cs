namespace MessengerProxy.Policy.Endpoints;

/// <summary>Which content stage of the TIM rulebook looks at an endpoint's requests.</summary>
internal enum TimContent
{
    None,

    /// <summary><c>POST /createRoom</c>: room version, invitees, room type, <c>m.federate</c> of public rooms.</summary>
    CreateRoom,

    /// <summary><c>POST /rooms/{roomId}/upgrade</c>: the new room version.</summary>
    RoomUpgrade,

    /// <summary><c>PUT /rooms/{roomId}/state/{eventType}[/{stateKey}]</c>: public join rules.</summary>
    StateEvent,

    /// <summary><c>PUT /rooms/{roomId}/send/{eventType}/{txnId}</c>: threads and reactions.</summary>
    SendEvent,

    /// <summary><c>PUT /rooms/{roomId}/redact/{eventId}/{txnId}</c>: the age of the redacted event.</summary>
    Redaction,

    /// <summary><c>POST /register</c>: guest accounts (the query, not the body).</summary>
    Registration,

    /// <summary><c>PUT /presence/{userId}/status</c>: the length of <c>status_msg</c>.</summary>
    PresenceStatus,
}

/// <summary>
/// The TIM rules in force: the override rows the operator left on and the content rules that are enabled. Given to
/// <see cref="EndpointTable.WithTim"/>, it becomes part of every endpoint's traits, so stages never look at
/// templates or configuration to learn whether a rule concerns a request.
/// </summary>
internal sealed class TimRulebook
{
    private static readonly Dictionary<(string Method, string Template), (TimContent Content, TimRule[] Rules)> s_content = new()
    {
        [("POST", "/_matrix/client/v3/createRoom")] = (TimContent.CreateRoom, [TimRules.RoomVersion, TimRules.SingleInvitee, TimRules.ForbiddenRoomType, TimRules.PublicRoomNotFederated]),
        [("POST", "/_matrix/client/v3/rooms/{roomId}/upgrade")] = (TimContent.RoomUpgrade, [TimRules.RoomVersion]),
        // The spec's empty state key can be written with or without the final slash; both are table rows.
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}")] = (TimContent.StateEvent, [TimRules.PublicJoinRule]),
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/")] = (TimContent.StateEvent, [TimRules.PublicJoinRule]),
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}")] = (TimContent.StateEvent, [TimRules.PublicJoinRule]),
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}")] = (TimContent.SendEvent, [TimRules.NoThreads, TimRules.ReactionSingleEmoji]),
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}")] = (TimContent.Redaction, [TimRules.RedactionWindow]),
        [("POST", "/_matrix/client/v3/register")] = (TimContent.Registration, [TimRules.GuestRegistration]),
        [("PUT", "/_matrix/client/v3/presence/{userId}/status")] = (TimContent.PresenceStatus, [TimRules.StatusMessageLength]),
    };

    // Invites by path (the state-event invite is told apart by its event type at request time).
    private static readonly Dictionary<(string Method, string Template), TimInvitePoint> s_invites = new()
    {
        [("POST", "/_matrix/client/v3/rooms/{roomId}/invite")] = TimInvitePoint.ClientInvite,
        [("POST", "/_matrix/client/v3/createRoom")] = TimInvitePoint.CreateRoom,
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}")] = TimInvitePoint.StateEvent,
        [("PUT", "/_matrix/federation/v1/invite/{roomId}/{eventId}")] = TimInvitePoint.FederationV1,
        [("PUT", "/_matrix/federation/v2/invite/{roomId}/{eventId}")] = TimInvitePoint.FederationV2,
    };

    private static readonly Dictionary<(string Method, string Template), (TimAccountHook Hook, TimRule Rule)> s_accountHooks = new()
    {
        [("GET", "/_matrix/client/v3/user/{userId}/account_data/{type}")] = (TimAccountHook.PermissionConfigRead, TimRules.PermissionConfigDefault),
        [("PUT", "/_matrix/client/v3/user/{userId}/account_data/{type}")] = (TimAccountHook.PermissionConfigWrite, TimRules.InvitePermission),
        [("POST", "/_matrix/client/v3/logout")] = (TimAccountHook.Logout, TimRules.InvitePermission),
        [("POST", "/_matrix/client/v3/logout/all")] = (TimAccountHook.LogoutAll, TimRules.InvitePermission),
    };

    private readonly Dictionary<(string Method, string Template), TimOverride> _overrides = [];
    private readonly HashSet<TimRule> _enabled;

    public TimRulebook(IEnumerable<TimOverride> overrides, IEnumerable<TimRule> enabledRules)
    {
        foreach (var row in overrides)
        {
            foreach (var method in row.Methods)
            {
                _overrides.Add((method, row.Template.Text), row);
            }
        }

        _enabled = [.. enabledRules];
    }

    /// <summary>No TIM rules at all: a plain Matrix v1.11 proxy.</summary>
    public static TimRulebook Off { get; } = new([], []);

    public bool IsEnabled(TimRule rule) => _enabled.Contains(rule);

    internal TimOverride? OverrideFor(EndpointDescriptor endpoint) =>
        _overrides.GetValueOrDefault((endpoint.Method, endpoint.Template.Text));

    /// <summary>The content stage for the endpoint; <see cref="TimContent.None"/> when none of its rules is enabled.</summary>
    internal TimContent ContentFor(EndpointDescriptor endpoint) =>
        s_content.TryGetValue((endpoint.Method, endpoint.Template.Text), out var entry) && entry.Rules.Any(IsEnabled)
            ? entry.Content
            : TimContent.None;

    /// <summary>Where the endpoint invites someone whose permission configuration decides; none while the rule is off.</summary>
    internal TimInvitePoint InviteFor(EndpointDescriptor endpoint) =>
        IsEnabled(TimRules.InvitePermission) ? s_invites.GetValueOrDefault((endpoint.Method, endpoint.Template.Text)) : TimInvitePoint.None;

    /// <summary>What the endpoint means for the invite check's caches or the default permission configuration.</summary>
    internal TimAccountHook AccountHookFor(EndpointDescriptor endpoint) =>
        s_accountHooks.TryGetValue((endpoint.Method, endpoint.Template.Text), out var entry) && IsEnabled(entry.Rule) ? entry.Hook : TimAccountHook.None;

    /// <summary>Every endpoint an invite or account hook concerns, for tests that check them against the table.</summary>
    internal static IEnumerable<(string Method, string Template)> InviteAndAccountEndpoints => s_invites.Keys.Concat(s_accountHooks.Keys);

    /// <summary>Every endpoint a content rule concerns, for tests that check them against the table.</summary>
    internal static IEnumerable<(string Method, string Template)> ContentEndpoints => s_content.Keys;
}
