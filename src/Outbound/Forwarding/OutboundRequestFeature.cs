using MessengerProxy.Outbound.Destinations;
using MessengerProxy.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>An outbound request that passed the checks: where it goes and the exact target to send.</summary>
internal sealed class OutboundRequestFeature(Destination destination, RequestTarget target, string endpoint, bool learnDelegation, RawDataReport? rawData = null) : IProxyRequest
{
    public Destination Destination { get; } = destination;

    public RequestTarget Target { get; } = target;

    /// <summary>Template of the matched endpoint (or <c>*</c> for extra hosts), for logs and metrics.</summary>
    public string LogEndpoint { get; } = endpoint;

    /// <summary>A <c>/.well-known/matrix/server</c> fetch whose answer may delegate the server to another host.</summary>
    public bool LearnDelegation { get; } = learnDelegation;

    public RequestOutcome Outcome { get; set; } = RequestOutcome.Forwarded;

    /// <summary>The endpoint's outbound raw-data operation; none for extra hosts.</summary>
    public RawDataReport? RawData { get; } = rawData;

    // The outbound rows never depend on invitees: a federation invite sent out is outside the organisation by nature.
    public IReadOnlyList<string> Invitees() => [];
}
