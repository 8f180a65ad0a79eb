namespace MessengerProxy.Host.Listeners;

internal enum ListenerKind
{
    Inbound,
    Health,
}

/// <summary>
/// Set on every connection by the listener that accepted it, so each request is dispatched by where it
/// arrived rather than by its Host header (which the client controls).
/// </summary>
internal sealed class ListenerFeature
{
    public ListenerFeature(ListenerKind kind) => Kind = kind;

    public ListenerKind Kind { get; }
}
