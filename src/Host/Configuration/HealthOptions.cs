namespace MessengerProxy.Host.Configuration;

/// <summary>Settings of the health and metrics listener (configuration section <c>Health</c>).</summary>
internal sealed class HealthOptions
{
    public const string SectionName = "Health";

    /// <summary>TCP port for <c>/actuator/health/*</c> and <c>/metrics</c>; never served on the public port.</summary>
    public int Port { get; set; } = 1233;

    /// <summary><c>*</c>, <c>localhost</c> or an IP address. Probes come from the orchestrator, so all interfaces by default.</summary>
    public string BindAddress { get; set; } = "*";

    /// <summary>Path on the homeserver that readiness fetches (Synapse serves <c>/health</c> on every listener).</summary>
    public string HomeserverProbePath { get; set; } = "/health";

    /// <summary>How long readiness waits for the homeserver before reporting it unhealthy.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
