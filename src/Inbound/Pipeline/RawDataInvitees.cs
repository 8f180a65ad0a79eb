using System.Text.Json;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The invitees a client's invite or createRoom names, for the raw-data record's inside/outside classification.
/// Read from the body the policies already parsed; a body they refused (not JSON, wrong shape) names nobody.
/// </summary>
internal static class RawDataInvitees
{
    private const string MemberEventType = "m.room.member";

    public static IReadOnlyList<string> Of(InboundRequestFeature request)
    {
        if (request.Body is not { Length: > 0 } body)
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

        if (root.ValueKind != JsonValueKind.Object)
        {
            return [];
        }

        var invitees = new List<string>();
        switch (request.Endpoint.Traits.BodyServers)
        {
            case BodyServerReferences.Invite:
                AddString(invitees, root, "user_id");
                break;

            case BodyServerReferences.CreateRoom:
                if (root.TryGetProperty("invite", out var invite) && invite.ValueKind == JsonValueKind.Array)
                {
                    foreach (var entry in invite.EnumerateArray())
                    {
                        if (entry.ValueKind == JsonValueKind.String)
                        {
                            invitees.Add(entry.GetString()!);
                        }
                    }
                }

                if (root.TryGetProperty("initial_state", out var initialState) && initialState.ValueKind == JsonValueKind.Array)
                {
                    foreach (var state in initialState.EnumerateArray())
                    {
                        if (state.ValueKind == JsonValueKind.Object
                            && state.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String && type.ValueEquals(MemberEventType)
                            && state.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
                            && content.TryGetProperty("membership", out var membership) && membership.ValueKind == JsonValueKind.String
                            && membership.ValueEquals("invite"))
                        {
                            AddString(invitees, state, "state_key");
                        }
                    }
                }

                break;
        }

        return invitees;
    }

    private static void AddString(List<string> invitees, JsonElement element, string name)
    {
        if (element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String)
        {
            invitees.Add(value.GetString()!);
        }
    }
}
