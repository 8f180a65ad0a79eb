using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Every Matrix domain a client request names must be federated (or this server), so a user learns at once,
/// with <c>403 M_FORBIDDEN "&lt;domain&gt; is not part of the federation"</c>, what the outbound proxy would
/// otherwise refuse only after the homeserver gave up. Which values name a domain is a trait of the endpoint
/// (<see cref="EndpointTraits"/>): path and query parameters by their spec names, and the body members of
/// invites, room creation, member state events, key queries and claims and to-device messages. Values are
/// decoded as the homeserver decodes them before they are checked.
/// </summary>
internal sealed class ClientDomainPolicy(FederationListCache federation) : IInboundPolicy
{
    private const string MemberEventType = "m.room.member";

    // Most endpoints name no other server: they leave without entering the async path.
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var traits = request.Endpoint.Traits;
        return request.IsPreflight || !federation.Enforced || (traits.ServerParameters.Count == 0 && traits.BodyServers == BodyServerReferences.None)
            ? ValueTask.FromResult<MatrixError?>(null)
            : CheckAsync(context, request);
    }

    private async ValueTask<MatrixError?> CheckAsync(HttpContext context, InboundRequestFeature request)
    {
        var traits = request.Endpoint.Traits;
        var cancellationToken = context.RequestAborted;
        foreach (var parameter in traits.ServerParameters)
        {
            if (parameter.InQuery)
            {
                foreach (var value in RequestTarget.QueryValues(request.Target.Query, parameter.Name))
                {
                    if (await CheckAsync(value, parameter.Kind, parameter.Name, cancellationToken) is { } error)
                    {
                        return error;
                    }
                }
            }
            else if (request.Endpoint.Template.TryGetParameter(request.Target.Path, parameter.Name, out var raw)
                && await CheckAsync(Uri.UnescapeDataString(raw.ToString()), parameter.Kind, parameter.Name, cancellationToken) is { } error)
            {
                return error;
            }
        }

        return traits.BodyServers == BodyServerReferences.None ? null : await CheckBodyAsync(request, cancellationToken);
    }

    private async ValueTask<MatrixError?> CheckBodyAsync(InboundRequestFeature request, CancellationToken cancellationToken)
    {
        var kind = request.Endpoint.Traits.BodyServers;
        if (kind == BodyServerReferences.StateEvent && !IsMemberEvent(request))
        {
            return null;
        }

        if (request.Body is not { Length: > 0 } body)
        {
            return null;
        }

        JsonElement root;
        try
        {
            root = body.Json.RootElement;
        }
        catch (JsonException)
        {
            return new MatrixError(400, MatrixErrorCode.BadJson, "Request body is not valid JSON or repeats a member");
        }

        if (root.ValueKind != JsonValueKind.Object)
        {
            return new MatrixError(400, MatrixErrorCode.BadJson, "Request body must be a JSON object");
        }

        switch (kind)
        {
            case BodyServerReferences.Invite:
                // Without user_id this is a third-party (3PID) invite, which names no Matrix server.
                return root.TryGetProperty("user_id", out var userId) ? await CheckUserAsync(userId, "user_id", cancellationToken) : null;

            case BodyServerReferences.CreateRoom:
                return await CheckCreateRoomAsync(root, cancellationToken);

            case BodyServerReferences.StateEvent:
                if (!IsInvite(root))
                {
                    return null;
                }

                request.Endpoint.Template.TryGetParameter(request.Target.Path, "stateKey", out var rawStateKey);
                return await CheckAsync(Uri.UnescapeDataString(rawStateKey.ToString()), ServerReferenceKind.UserId, "stateKey", cancellationToken);

            case BodyServerReferences.KeysQuery:
                return await CheckUserKeysAsync(root, "device_keys", cancellationToken);

            case BodyServerReferences.KeysClaim:
                return await CheckUserKeysAsync(root, "one_time_keys", cancellationToken);

            case BodyServerReferences.SendToDevice:
                return await CheckUserKeysAsync(root, "messages", cancellationToken);

            default:
                return null;
        }
    }

    private async ValueTask<MatrixError?> CheckCreateRoomAsync(JsonElement root, CancellationToken cancellationToken)
    {
        if (root.TryGetProperty("invite", out var invites))
        {
            if (invites.ValueKind != JsonValueKind.Array)
            {
                return new MatrixError(400, MatrixErrorCode.BadJson, "invite: must be an array of user IDs");
            }

            var index = 0;
            foreach (var invitee in invites.EnumerateArray())
            {
                if (await CheckUserAsync(invitee, $"invite[{index++}]", cancellationToken) is { } error)
                {
                    return error;
                }
            }
        }

        if (!root.TryGetProperty("initial_state", out var initialState))
        {
            return null;
        }

        if (initialState.ValueKind != JsonValueKind.Array)
        {
            return new MatrixError(400, MatrixErrorCode.BadJson, "initial_state: must be an array of state events");
        }

        var position = 0;
        foreach (var state in initialState.EnumerateArray())
        {
            var field = $"initial_state[{position++}]";
            if (state.ValueKind != JsonValueKind.Object)
            {
                return new MatrixError(400, MatrixErrorCode.BadJson, $"{field}: must be a state event object");
            }

            if (state.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals(MemberEventType)
                && state.TryGetProperty("content", out var content) && IsInvite(content)
                && await CheckUserAsync(state.TryGetProperty("state_key", out var stateKey) ? stateKey : default, field + ".state_key", cancellationToken) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private async ValueTask<MatrixError?> CheckUserKeysAsync(JsonElement root, string member, CancellationToken cancellationToken)
    {
        if (!root.TryGetProperty(member, out var users))
        {
            return null;
        }

        if (users.ValueKind != JsonValueKind.Object)
        {
            return new MatrixError(400, MatrixErrorCode.BadJson, $"{member}: must be an object keyed by user ID");
        }

        foreach (var user in users.EnumerateObject())
        {
            if (await CheckAsync(user.Name, ServerReferenceKind.UserId, member, cancellationToken) is { } error)
            {
                return error;
            }
        }

        return null;
    }

    private static bool IsMemberEvent(InboundRequestFeature request) =>
        request.Endpoint.Template.TryGetParameter(request.Target.Path, "eventType", out var rawType)
        && Uri.UnescapeDataString(rawType.ToString()) == MemberEventType;

    private static bool IsInvite(JsonElement content) =>
        content.ValueKind == JsonValueKind.Object
        && content.TryGetProperty("membership", out var membership)
        && membership.ValueKind == JsonValueKind.String
        && membership.ValueEquals("invite");

    private ValueTask<MatrixError?> CheckUserAsync(JsonElement value, string field, CancellationToken cancellationToken) =>
        value.ValueKind == JsonValueKind.String
            ? CheckAsync(value.GetString()!, ServerReferenceKind.UserId, field, cancellationToken)
            : ValueTask.FromResult<MatrixError?>(new MatrixError(400, MatrixErrorCode.InvalidParam, $"{field}: not a Matrix user ID"));

    private async ValueTask<MatrixError?> CheckAsync(string value, ServerReferenceKind kind, string field, CancellationToken cancellationToken)
    {
        ReadOnlySpan<char> serverName;
        switch (kind)
        {
            case ServerReferenceKind.UserId:
                if (!ServerNames.TryGetUserServerName(value, out serverName))
                {
                    return new MatrixError(400, MatrixErrorCode.InvalidParam, $"{field}: not a Matrix user ID");
                }

                break;

            case ServerReferenceKind.RoomAlias or ServerReferenceKind.RoomIdOrAlias:
                if (kind == ServerReferenceKind.RoomIdOrAlias && value.StartsWith('!'))
                {
                    return null;
                }

                if (!TryGetAliasServerName(value, out serverName))
                {
                    return new MatrixError(400, MatrixErrorCode.InvalidParam, $"{field}: not a room alias");
                }

                break;

            default:
                serverName = value;
                break;
        }

        var name = serverName.ToString();
        return FederationErrors.For(await federation.CheckAsync(name, cancellationToken), name, field);
    }

    private static bool TryGetAliasServerName(string alias, out ReadOnlySpan<char> serverName)
    {
        serverName = default;
        var colon = alias.IndexOf(':');
        if (alias.Length < 4 || alias[0] != '#' || colon < 1)
        {
            return false;
        }

        serverName = alias.AsSpan(colon + 1);
        return ServerNames.TryGetHost(serverName, out _);
    }
}
