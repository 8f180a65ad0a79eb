namespace MessengerProxy.Inbound.Configuration;

/// <summary>One public listener of the inbound proxy (configuration <c>Inbound:Listeners:N</c>).</summary>
internal sealed class InboundListenerOptions
{
    /// <summary>TCP port; required (<c>0</c> = any free port).</summary>
    public int? Port { get; set; }

    /// <summary>Address to listen on: <c>*</c> (all, IPv4 and IPv6), <c>localhost</c>, or an IP address.</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>PEM certificate (chain) for TLS; empty means plain HTTP.</summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>PEM private key belonging to <see cref="TlsCertificatePath"/>.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary><c>client</c>, <c>federation</c>, or both comma-separated; empty serves both.</summary>
    public string? Apis { get; set; }
}
