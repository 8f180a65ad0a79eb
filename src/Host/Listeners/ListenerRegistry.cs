using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace MessengerProxy.Host.Listeners;

/// <summary>Remembers the Kestrel listeners so the ports actually bound (port 0 in tests) can be read back.</summary>
public sealed class ListenerRegistry
{
    private readonly Dictionary<string, ListenOptions> _listeners = new(StringComparer.Ordinal);

    internal void Add(ListenerKind kind, ListenOptions options)
    {
        lock (_listeners)
        {
            _listeners[kind.ToString()] = options;
        }
    }

    /// <summary>The bound endpoint of a listener (<c>Inbound</c>, <c>Health</c>) once the server has started.</summary>
    public IPEndPoint GetEndPoint(string kind)
    {
        lock (_listeners)
        {
            return _listeners.TryGetValue(kind, out var options)
                ? options.IPEndPoint ?? throw new InvalidOperationException($"listener {kind} is not an IP listener")
                : throw new InvalidOperationException($"no listener {kind}");
        }
    }
}
