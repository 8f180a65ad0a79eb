using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Client-server requests that reach other servers: invitees of <c>/invite</c> and of <c>createRoom</c>'s
/// <c>invite</c>, and the <c>{serverName}</c> of media downloads and thumbnails, must be federated (or this
/// server). The inviter is the authenticated local user, so always this server. Bodies are read from a
/// rewindable buffer and forwarded unchanged.
/// </summary>
internal sealed class ClientFederationPolicy(FederationListCache federation) : IInboundPolicy
{
    private const string InviteTemplate = "/_matrix/client/v3/rooms/{roomId}/invite";
    private const string CreateRoomTemplate = "/_matrix/client/v3/createRoom";

    public async ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        var endpoint = request.Endpoint;
        if (request.IsPreflight || endpoint.Api != MatrixApi.ClientServer || !federation.Enforced)
        {
            return null;
        }

        if (endpoint.Family == EndpointFamily.Media && endpoint.Method == "GET"
            && endpoint.Template.TryGetParameter(request.Target.Path, "serverName", out var rawServerName))
        {
            var serverName = Uri.UnescapeDataString(rawServerName.ToString());
            return FederationErrors.For(await federation.CheckAsync(serverName, context.RequestAborted), serverName, "serverName");
        }

        var template = endpoint.Template.Text;
        if (endpoint.Method != "POST" || (template != InviteTemplate && template != CreateRoomTemplate))
        {
            return null;
        }

        JsonDocument document;
        try
        {
            context.Request.EnableBuffering();
            document = await JsonDocument.ParseAsync(context.Request.Body, new JsonDocumentOptions { MaxDepth = 64 }, context.RequestAborted);
            context.Request.Body.Position = 0;
        }
        catch (JsonException)
        {
            return new MatrixError(400, MatrixErrorCode.NotJson, "Request body is not valid JSON");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return new MatrixError(400, MatrixErrorCode.BadJson, "Request body must be a JSON object");
            }

            if (template == InviteTemplate)
            {
                // Without user_id this is a third-party (3PID) invite, which names no Matrix server.
                return root.TryGetProperty("user_id", out var userId)
                    ? await CheckUserAsync(userId, "user_id", context.RequestAborted)
                    : null;
            }

            if (!root.TryGetProperty("invite", out var invites))
            {
                return null;
            }

            if (invites.ValueKind != JsonValueKind.Array)
            {
                return new MatrixError(400, MatrixErrorCode.BadJson, "invite: must be an array of user IDs");
            }

            var index = 0;
            foreach (var invitee in invites.EnumerateArray())
            {
                if (await CheckUserAsync(invitee, $"invite[{index++}]", context.RequestAborted) is { } error)
                {
                    return error;
                }
            }

            return null;
        }
    }

    private async ValueTask<MatrixError?> CheckUserAsync(JsonElement value, string field, CancellationToken cancellationToken)
    {
        if (value.ValueKind != JsonValueKind.String || !ServerNames.TryGetUserServerName(value.GetString(), out var serverName))
        {
            return new MatrixError(400, "M_INVALID_PARAM", $"{field}: not a Matrix user ID");
        }

        var name = serverName.ToString();
        return FederationErrors.For(await federation.CheckAsync(name, cancellationToken), name, field);
    }
}
