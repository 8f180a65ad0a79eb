namespace MessengerProxy.Policy.Endpoints;

/// <summary>Where an endpoint invites a user, and so where the invitee's permission configuration is asked.</summary>
internal enum TimInvitePoint
{
    None,

    /// <summary><c>POST /rooms/{roomId}/invite</c>: <c>user_id</c>, checked when the invitee is a user of this server.</summary>
    ClientInvite,

    /// <summary><c>POST /createRoom</c>: <c>invite[]</c> and the invites among <c>initial_state</c>, local invitees only.</summary>
    CreateRoom,

    /// <summary><c>PUT /rooms/{roomId}/state/m.room.member/{stateKey}</c> with <c>membership: invite</c>.</summary>
    StateEvent,

    /// <summary><c>PUT /_matrix/federation/v1/invite/…</c>: the body is the invite event itself.</summary>
    FederationV1,

    /// <summary><c>PUT /_matrix/federation/v2/invite/…</c>: the body is <c>{"event":…,"room_version":…}</c>.</summary>
    FederationV2,
}

/// <summary>Requests that change what the invite check has cached, or that the proxy answers for the permission configuration.</summary>
internal enum TimAccountHook
{
    None,

    /// <summary><c>GET /user/{userId}/account_data/{type}</c>: a permission configuration the homeserver does not have is the default.</summary>
    PermissionConfigRead,

    /// <summary><c>PUT /user/{userId}/account_data/{type}</c>: the user's cached permission configuration is dropped.</summary>
    PermissionConfigWrite,

    /// <summary><c>POST /logout</c>: the token's cached user is dropped.</summary>
    Logout,

    /// <summary><c>POST /logout/all</c>: every cached token of the user is dropped.</summary>
    LogoutAll,
}

/// <summary>The account-data types of the invite permission configuration ("Berechtigungskonfiguration"), in the order they are read.</summary>
internal static class PermissionConfigTypes
{
    /// <summary>TI-M Pro (A_26389).</summary>
    public const string Pro = "de.gematik.tim.account.permissionconfig.pro.v1";

    /// <summary>TI-M ePA; its schema has no <c>groupExceptions</c>.</summary>
    public const string Epa = "de.gematik.tim.account.permissionconfig.epa.v1";

    /// <summary>TI-M Basis (A_25044).</summary>
    public const string Basis = "de.gematik.tim.account.permissionconfig.v1";

    public static IReadOnlyList<string> All { get; } = [Pro, Epa, Basis];

    public static bool IsPermissionConfig(string type) => type is Pro or Epa or Basis;
}
