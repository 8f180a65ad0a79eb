using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// Set on every connection of an inbound listener (and on every request of a front door that feeds the
/// pipeline in process): which APIs the pipeline serves it. A request without it is served nothing.
/// </summary>
internal sealed class InboundListenerFeature
{
    public InboundListenerFeature(string name, ListenerApis apis)
    {
        Name = name;
        Apis = apis;
        ApisLabel = InboundListener.Label(apis);
    }

    /// <summary>Names the listener in logs, e.g. <c>Inbound:Listeners:1</c> or <c>LowBandwidth</c>.</summary>
    public string Name { get; }

    public ListenerApis Apis { get; }

    /// <summary><see cref="Apis"/> as written in logs and metric labels.</summary>
    public string ApisLabel { get; }
}
