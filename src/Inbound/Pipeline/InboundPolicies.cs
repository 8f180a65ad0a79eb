using MessengerProxy.Inbound.Policies;
using MessengerProxy.Inbound.Policies.Tim;
using MessengerProxy.Inbound.Policies.Tim.Invites;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// The order in which every allowlisted request is checked, written in one place: the cheapest refusals first,
/// header checks before the body is read, the body read (bounded) before any rule that looks inside it, and the one
/// rule that asks the homeserver last. Which stage concerns a request is a trait of its endpoint; the others return
/// at once.
/// </summary>
internal sealed class InboundPolicies
{
    public InboundPolicies(
        TimAnswerPolicy timAnswers,
        BodySizePolicy bodySize,
        AccessTokenPresencePolicy accessToken,
        XMatrixOriginPolicy xMatrixOrigin,
        GuestRegistrationPolicy guestRegistration,
        RequestBodyStage body,
        XMatrixSignaturePolicy xMatrixSignature,
        ClientDomainPolicy clientDomains,
        TransactionDomainPolicy transactionDomains,
        TimContentPolicy timContent,
        RedactionWindowPolicy redactionWindow,
        InvitePermissionPolicy invitePermissions,
        AccountHookPolicy accountHooks)
    {
        InOrder =
        [
            timAnswers,         // TIM: endpoints answered by the proxy (federation publicRooms, previews, threads, ...)
            bodySize,           // 413 from the declared length, before a byte is read
            accessToken,        // 401 without any token, as the homeserver would answer (and where TIM wants one)
            xMatrixOrigin,      // federation: the X-Matrix origin must be listed (and TIM's /version needs X-Matrix)
            guestRegistration,  // TIM: no guest accounts (the query only)
            body,               // every body but media uploads read whole and checked
            xMatrixSignature,   // federation: the X-Matrix signature over method, target, names and the body just read
            clientDomains,      // every domain the client names must be federated (its answer names the domain)
            transactionDomains, // federation /send: every PDU's and EDU's server must be federated, or the whole transaction is refused
            timContent,         // TIM: room and content rules on the parsed body; createRoom patched where needed, last
            redactionWindow,    // TIM: the event's age, asked of the homeserver with the caller's token
            invitePermissions,  // TIM: the invitee's permission configuration (admin API; the inviter by whoami)
            accountHooks,       // TIM: caches dropped on writes and logouts; a missing permission config answered with the default
        ];
    }

    public IInboundPolicy[] InOrder { get; }
}
