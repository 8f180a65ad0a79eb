using System.Net;
using MessengerProxy.Hosting.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace MessengerProxy.Hosting.Listeners;

/// <summary>
/// Opens named Kestrel listeners and remembers them, so the ports actually bound (port 0 in tests) can be
/// read back and requests dispatched by listener.
/// </summary>
internal sealed class ListenerRegistry
{
    private readonly Dictionary<string, ListenOptions> _listeners = new(StringComparer.Ordinal);

    /// <summary>Listens on <paramref name="bindAddress"/> (<c>*</c>, <c>localhost</c> or an IP) and <paramref name="port"/>, tagging connections with <paramref name="name"/>.</summary>
    public void Listen(KestrelServerOptions options, string name, string bindAddress, int port, Action<ListenOptions>? configure = null)
    {
        var feature = new ListenerFeature(name);
        void Setup(ListenOptions listen)
        {
            listen.Use(next => connection =>
            {
                connection.Features.Set(feature);
                return next(connection);
            });
            configure?.Invoke(listen);
            lock (_listeners)
            {
                _listeners[name] = listen;
            }
        }

        var address = ListenerAddresses.Parse(bindAddress) ?? IPAddress.IPv6Any;
        if (address.Equals(IPAddress.IPv6Any))
        {
            // Dual-stack where the host has IPv6, IPv4 only where it does not (some container networks).
            options.ListenAnyIP(port, Setup);
        }
        else
        {
            options.Listen(address, port, Setup);
        }
    }

    /// <summary>The bound endpoint of a named listener once the server has started.</summary>
    public IPEndPoint GetEndPoint(string name)
    {
        lock (_listeners)
        {
            return _listeners.TryGetValue(name, out var options)
                ? options.IPEndPoint ?? throw new InvalidOperationException($"listener {name} is not an IP listener")
                : throw new InvalidOperationException($"no listener {name}");
        }
    }

    /// <summary>The name of the listener a request arrived on.</summary>
    public static string? NameOf(HttpContext context) => context.Features.Get<ListenerFeature>()?.Name;
}
