using System.Text.Json;
using MessengerProxy.Inbound.Policies.Tim.Invites;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The invitees a client's invite or createRoom names, for the raw-data record's inside/outside classification:
/// read as the invite check reads them, from the body the policies already parsed. A body they refused (not JSON,
/// wrong shape) names nobody, or those found before the fault.
/// </summary>
internal static class RawDataInvitees
{
    public static IReadOnlyList<string> Of(InboundRequestFeature request)
    {
        var point = request.Endpoint.Traits.BodyServers switch
        {
            BodyServerReferences.Invite => TimInvitePoint.ClientInvite,
            BodyServerReferences.CreateRoom => TimInvitePoint.CreateRoom,
            _ => TimInvitePoint.None,
        };
        if (point == TimInvitePoint.None || request.Body is not { Length: > 0 } body)
        {
            return [];
        }

        JsonElement root;
        try
        {
            root = body.Json.RootElement;
        }
        catch (JsonException)
        {
            return [];
        }

        return root.ValueKind == JsonValueKind.Object ? InvitePermissionPolicy.ClientInvitees(request, point, root).Invitees : [];
    }
}
