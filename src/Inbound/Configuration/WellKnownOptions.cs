namespace MessengerProxy.Inbound.Configuration;

internal enum WellKnownClientMode
{
    /// <summary>Forward to the homeserver and rewrite <c>m.homeserver.base_url</c> to <c>Inbound:PublicBaseUrl</c> (when set).</summary>
    Forward,

    /// <summary>Answer from configuration.</summary>
    Static,

    /// <summary>Answer 404.</summary>
    Disabled,
}

/// <summary>Settings for <c>/.well-known/matrix/*</c> (configuration section <c>WellKnown</c>).</summary>
internal sealed class WellKnownOptions
{
    public const string SectionName = "WellKnown";

    /// <summary>Value of <c>m.server</c> (host[:port] other servers federate with); empty answers 404.</summary>
    public string? Server { get; set; }

    public WellKnownClientMode ClientMode { get; set; } = WellKnownClientMode.Forward;

    /// <summary><c>m.homeserver.base_url</c> in <see cref="WellKnownClientMode.Static"/> mode; defaults to <c>Inbound:PublicBaseUrl</c>.</summary>
    public string? ClientBaseUrl { get; set; }

    /// <summary>Optional <c>m.identity_server.base_url</c> in <see cref="WellKnownClientMode.Static"/> mode.</summary>
    public string? IdentityServerBaseUrl { get; set; }

    /// <summary>
    /// URL the proxy fetches <c>/.well-known/matrix/support</c> from, e.g. the registration service's
    /// <c>http://registration:8080/backend/well-known-support/example.org</c>; empty answers 404.
    /// </summary>
    public string? SupportUrl { get; set; }

    /// <summary>How long to wait for the support endpoint before answering 502.</summary>
    public TimeSpan SupportTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
