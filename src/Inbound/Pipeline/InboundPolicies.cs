using MessengerProxy.Inbound.Policies;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The order in which every allowlisted request is checked, written in one place: the cheapest refusals first,
/// header checks before the body is read, and the body read (bounded) before any rule that looks inside it.
/// </summary>
internal sealed class InboundPolicies
{
    public InboundPolicies(
        BodySizePolicy bodySize,
        AccessTokenPresencePolicy accessToken,
        XMatrixOriginPolicy xMatrixOrigin,
        RequestBodyStage body,
        ClientDomainPolicy clientDomains)
    {
        InOrder =
        [
            bodySize,       // 413 from the declared length, before a byte is read
            accessToken,    // 401 without any token, as the homeserver would answer
            xMatrixOrigin,  // federation: the X-Matrix origin must be listed
            body,           // every body but media uploads read whole and checked
            clientDomains,  // every domain the client names must be federated
        ];
    }

    public IInboundPolicy[] InOrder { get; }
}
