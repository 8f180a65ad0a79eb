namespace MessengerProxy.Pipeline;

/// <summary>How a request left either proxy's pipeline; the <c>outcome</c> label of the request metrics.</summary>
internal enum RequestOutcome
{
    /// <summary>Sent upstream and the answer relayed.</summary>
    Forwarded,

    /// <summary>Answered by the proxy itself (well-known, support).</summary>
    Answered,

    /// <summary>Refused: unknown endpoint, wrong method, too large, malformed, missing credentials, a policy.</summary>
    Refused,

    /// <summary>The upstream could not be reached, timed out, or answered something unusable.</summary>
    UpstreamError,

    /// <summary>The client went away before the answer was complete.</summary>
    ClientAborted,

    /// <summary>An unexpected error inside the proxy (answered <c>500</c>).</summary>
    Failed,
}

/// <summary>Which proxy a pipeline serves; it decides the metric names and the labels of its outcomes.</summary>
internal enum PipelineDirection
{
    /// <summary>Clients and other servers to the homeserver.</summary>
    Inbound,

    /// <summary>The homeserver to other servers.</summary>
    Outbound,
}
