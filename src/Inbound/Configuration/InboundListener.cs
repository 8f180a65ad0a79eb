using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Inbound.Configuration;

/// <summary>One public listener of the inbound proxy as it is opened: from <c>Inbound:Listeners:N</c>, or the single one of <c>Inbound:Port</c>.</summary>
/// <param name="Name">The configuration key it comes from (<c>Inbound</c> or <c>Inbound:Listeners:N</c>); names the listener in logs.</param>
internal sealed record InboundListener(string Name, string BindAddress, int Port, string? TlsCertificatePath, string? TlsKeyPath, ListenerApis Apis)
{
    /// <summary>The name of the listener configured by the single-listener keys (<c>Inbound:Port</c>, …).</summary>
    public const string SingleListenerName = InboundOptions.SectionName;

    public bool UsesTls => !string.IsNullOrEmpty(TlsCertificatePath);

    /// <summary>The key of one of the listener's settings, e.g. <c>Inbound:Listeners:1:Port</c> (or <c>Inbound:Port</c>).</summary>
    public string Key(string setting) => $"{Name}:{setting}";

    /// <summary>The listeners the settings describe, in configuration order; values that fail validation are left at harmless defaults.</summary>
    public static IReadOnlyList<InboundListener> All(InboundOptions options)
    {
        if (options.Listeners.Count == 0)
        {
            return [new InboundListener(SingleListenerName, options.BindAddress, options.Port, options.TlsCertificatePath, options.TlsKeyPath, ListenerApis.All)];
        }

        var listeners = new InboundListener[options.Listeners.Count];
        for (var i = 0; i < listeners.Length; i++)
        {
            var listener = options.Listeners[i];
            listeners[i] = new InboundListener($"{InboundOptions.SectionName}:{nameof(InboundOptions.Listeners)}:{i}",
                listener.BindAddress, listener.Port ?? 0, listener.TlsCertificatePath, listener.TlsKeyPath,
                TryParseApis(listener.Apis, out var apis, out _) ? apis : ListenerApis.None);
        }

        return listeners;
    }

    /// <summary>
    /// Reads <c>Apis</c>: <c>client</c>, <c>federation</c>, or both comma-separated (any case); empty is both.
    /// False when a value is unknown (<paramref name="unknown"/>) or none is given.
    /// </summary>
    public static bool TryParseApis(string? text, out ListenerApis apis, out string? unknown)
    {
        apis = ListenerApis.None;
        unknown = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            apis = ListenerApis.All;
            return true;
        }

        foreach (var value in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (value.Equals("client", StringComparison.OrdinalIgnoreCase))
            {
                apis |= ListenerApis.Client;
            }
            else if (value.Equals("federation", StringComparison.OrdinalIgnoreCase))
            {
                apis |= ListenerApis.Federation;
            }
            else
            {
                unknown ??= value;
            }
        }

        return unknown is null && apis != ListenerApis.None;
    }

    /// <summary>How a set of APIs is written in logs and metrics: <c>client</c>, <c>federation</c>, <c>client,federation</c>.</summary>
    public static string Label(ListenerApis apis) => apis switch
    {
        ListenerApis.Client => "client",
        ListenerApis.Federation => "federation",
        ListenerApis.All => "client,federation",
        _ => "none",
    };
}
