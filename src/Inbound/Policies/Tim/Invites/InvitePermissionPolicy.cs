using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Policies.Tim.Invites;

/// <summary>
/// Rule <c>invite-permission</c> (<c>Tim:InviteCheck=Proxy</c>): an invite reaches the homeserver only when the
/// invitee's permission configuration allows the inviter (<see cref="PermissionConfig"/>). Checked where an invite
/// can start:
/// <list type="bullet">
/// <item>inbound federation invites, v1 (the body is the event) and v2 (<c>{"event":…}</c>): inviter
/// <c>event.sender</c>, invitee <c>event.state_key</c>; a body that is no invite event is 400 <c>M_BAD_JSON</c>;
/// refused 403 <c>M_FORBIDDEN "Cannot invite this user"</c>;</item>
/// <item>a client's <c>/invite</c>, createRoom's invitees and a <c>m.room.member</c> invite through the state API,
/// when the invitee is on the caller's own server (others are their server's proxy's to check): the caller is
/// resolved with whoami; refused 403 <c>M_FORBIDDEN "The invite was blocked by the invitees policy"</c>.</item>
/// </list>
/// A configuration that cannot be read (admin API unreachable, not configured, no such user) or an inviter whose
/// insurance status matters but is unknown refuses the invite (fail closed, 403), counted and logged.
/// </summary>
internal sealed class InvitePermissionPolicy(
    PermissionConfigStore store,
    AccessTokenResolver tokens,
    FederationListCache federation,
    IOptions<FederationOptions> federationOptions,
    TimMetrics metrics,
    ILogger<InvitePermissionPolicy> logger) : IInboundPolicy
{
    // With Federation:ServerName configured, invitees of other servers are known without asking who the caller is.
    private readonly string? _ownServer = string.IsNullOrEmpty(federationOptions.Value.ServerName) ? null : federationOptions.Value.ServerName;

    private const string MemberEventType = "m.room.member";

    private static readonly MatrixError s_federationRefused = new(403, MatrixErrorCode.Forbidden, "Cannot invite this user");
    private static readonly MatrixError s_clientRefused = new(403, MatrixErrorCode.Forbidden, "The invite was blocked by the invitees policy");
    private static readonly MatrixError s_unreadable = new(403, MatrixErrorCode.Forbidden, "The invitee's invite permissions could not be read");

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var point = request.Endpoint.Traits.TimInvite;
        if (request.IsPreflight || point == TimInvitePoint.None || request.Body is not { Length: > 0 })
        {
            // An empty body is no invite; the homeserver refuses it.
            return ValueTask.FromResult<MatrixError?>(null);
        }

        if (point == TimInvitePoint.StateEvent && !PathParameterIs(request, "eventType", MemberEventType))
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        return CheckAsync(context, request, point);
    }

    private async ValueTask<MatrixError?> CheckAsync(HttpContext context, InboundRequestFeature request, TimInvitePoint point)
    {
        var error = await DecideAsync(context, request, point);
        if (error is not null && error.RelayedBody is null && error.StatusCode is 400 or 403)
        {
            request.RefusedBy = TimRules.InvitePermission;
        }

        return error;
    }

    private async ValueTask<MatrixError?> DecideAsync(HttpContext context, InboundRequestFeature request, TimInvitePoint point)
    {
        JsonElement root;
        try
        {
            root = request.Body!.Json.RootElement;
        }
        catch (JsonException)
        {
            return BadJson("Request body is not valid JSON or repeats a member");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return BadJson("Request body must be a JSON object");
        }

        if (point is TimInvitePoint.FederationV1 or TimInvitePoint.FederationV2)
        {
            return await FederationInviteAsync(point, root, context.RequestAborted);
        }

        var (invitees, shape) = ClientInvitees(request, point, root);
        if (shape is not null)
        {
            return shape;
        }

        if (_ownServer is not null)
        {
            invitees.RemoveAll(invitee => !IsOn(invitee, _ownServer));
        }

        if (invitees.Count == 0)
        {
            return null;
        }

        var (inviter, refused) = await tokens.ResolveAsync(context, request);
        if (refused is not null)
        {
            return refused;
        }

        ServerNames.TryGetUserServerName(inviter, out var ownServer);
        var own = ownServer.ToString();
        foreach (var invitee in invitees)
        {
            // A user of another server is that server's proxy's to protect (it sees the invite over federation).
            if (IsOn(invitee, own)
                && await CheckAsync(Label(point), inviter!, own, invitee, s_clientRefused, context.RequestAborted) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private async ValueTask<MatrixError?> FederationInviteAsync(TimInvitePoint point, JsonElement root, CancellationToken cancellationToken)
    {
        var field = point == TimInvitePoint.FederationV2 ? "event" : "body";
        var invite = root;
        if (point == TimInvitePoint.FederationV2 && (!root.TryGetProperty("event", out invite) || invite.ValueKind != JsonValueKind.Object))
        {
            return BadJson("event: must be the invite event object");
        }

        if (UserIdMember(invite, "sender") is not { } sender || !ServerNames.TryGetUserServerName(sender, out var senderServer))
        {
            return BadJson($"{field}.sender: must be a Matrix user ID");
        }

        if (UserIdMember(invite, "state_key") is not { } invitee)
        {
            return BadJson($"{field}.state_key: must be the invitee's Matrix user ID");
        }

        if (!invite.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String || !type.ValueEquals(MemberEventType)
            || !invite.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Object
            || !content.TryGetProperty("membership", out var membership) || membership.ValueKind != JsonValueKind.String || !membership.ValueEquals("invite"))
        {
            return BadJson($"{field}: must be an m.room.member event with membership invite");
        }

        return await CheckAsync(Label(point), sender, senderServer.ToString(), invitee, s_federationRefused, cancellationToken);
    }

    private async ValueTask<MatrixError?> CheckAsync(string point, string inviter, string inviterServer, string invitee, MatrixError refusal, CancellationToken cancellationToken)
    {
        var (config, failure, detail) = await store.GetAsync(invitee, cancellationToken);
        if (config is null)
        {
            return Unreadable(point, failure!, detail!);
        }

        var insured = false;
        if (config.InsuredException)
        {
            // Only the federation list says who is an insurance; without an answer, neither reading can be trusted.
            if (!ServerNames.TryGetHost(inviterServer, out var host) || federation.Current?.Find(host) is not { } entry)
            {
                return Unreadable(point, "insurance_unknown", "the inviter's server is not in the federation list, so its insurance status is unknown");
            }

            insured = entry.IsInsurance;
        }

        if (config.Allows(inviter, inviterServer, insured))
        {
            metrics.InviteChecked(point, "allowed");
            return null;
        }

        metrics.InviteChecked(point, "refused");
        return refusal;
    }

    private MatrixError Unreadable(string point, string reason, string detail)
    {
        metrics.InviteChecked(point, "failed");
        metrics.InviteCheckFailed(reason);
        TimLog.InviteCheckFailed(logger, point, detail);
        return s_unreadable;
    }

    /// <summary>The invitees a client request names, or the error for a body of the wrong shape (raw-data reporting reads them too).</summary>
    internal static (List<string> Invitees, MatrixError? Error) ClientInvitees(InboundRequestFeature request, TimInvitePoint point, JsonElement root)
    {
        var invitees = new List<string>();
        switch (point)
        {
            case TimInvitePoint.ClientInvite:
                // Without user_id this is a third-party (3PID) invite, which names no Matrix user.
                if (root.TryGetProperty("user_id", out var userId))
                {
                    if (userId.ValueKind != JsonValueKind.String)
                    {
                        return (invitees, BadJson("user_id: must be a Matrix user ID"));
                    }

                    invitees.Add(userId.GetString()!);
                }

                break;

            case TimInvitePoint.StateEvent:
                if (root.TryGetProperty("membership", out var membership) && membership.ValueKind == JsonValueKind.String && membership.ValueEquals("invite")
                    && request.Endpoint.Template.TryGetParameter(request.Target.Path, "stateKey", out var stateKey))
                {
                    invitees.Add(Uri.UnescapeDataString(stateKey.ToString()));
                }

                break;

            case TimInvitePoint.CreateRoom:
                if (root.TryGetProperty("invite", out var invite))
                {
                    if (invite.ValueKind != JsonValueKind.Array)
                    {
                        return (invitees, BadJson("invite: must be an array of user IDs"));
                    }

                    foreach (var entry in invite.EnumerateArray())
                    {
                        if (entry.ValueKind != JsonValueKind.String)
                        {
                            return (invitees, BadJson("invite: must be an array of user IDs"));
                        }

                        invitees.Add(entry.GetString()!);
                    }
                }

                if (root.TryGetProperty("initial_state", out var initialState))
                {
                    if (initialState.ValueKind != JsonValueKind.Array)
                    {
                        return (invitees, BadJson("initial_state: must be an array of state events"));
                    }

                    foreach (var state in initialState.EnumerateArray())
                    {
                        if (state.ValueKind == JsonValueKind.Object
                            && state.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals(MemberEventType)
                            && state.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
                            && content.TryGetProperty("membership", out var stateMembership) && stateMembership.ValueKind == JsonValueKind.String
                            && stateMembership.ValueEquals("invite"))
                        {
                            if (UserIdMember(state, "state_key") is not { } invitee)
                            {
                                return (invitees, BadJson("initial_state: a member invite needs the invitee's user ID as state_key"));
                            }

                            invitees.Add(invitee);
                        }
                    }
                }

                break;
        }

        return (invitees, null);
    }

    private static bool IsOn(string userId, string server) =>
        ServerNames.TryGetUserServerName(userId, out var userServer) && userServer.Equals(server, StringComparison.OrdinalIgnoreCase);

    private static string? UserIdMember(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && ServerNames.TryGetUserServerName(value.GetString(), out _)
            ? value.GetString()
            : null;

    private static bool PathParameterIs(InboundRequestFeature request, string name, string expected) =>
        request.Endpoint.Template.TryGetParameter(request.Target.Path, name, out var raw) && Uri.UnescapeDataString(raw.ToString()) == expected;

    private static string Label(TimInvitePoint point) => point switch
    {
        TimInvitePoint.FederationV1 => "federation_v1",
        TimInvitePoint.FederationV2 => "federation_v2",
        TimInvitePoint.ClientInvite => "invite",
        TimInvitePoint.CreateRoom => "create_room",
        _ => "state_event",
    };

    private static MatrixError BadJson(string message) => new(400, MatrixErrorCode.BadJson, message);
}
