namespace MessengerProxy.Hosting.Listeners;

/// <summary>
/// Set on every connection by the listener that accepted it, so each request is dispatched by where it
/// arrived rather than by its Host header (which the client controls).
/// </summary>
internal sealed class ListenerFeature
{
    public ListenerFeature(string name) => Name = name;

    /// <summary>The listener's name, e.g. <c>Inbound</c> or <c>Health</c>.</summary>
    public string Name { get; }
}
