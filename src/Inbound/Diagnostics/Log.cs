using Microsoft.Extensions.Logging;

namespace MessengerProxy.Inbound.Diagnostics;

/// <summary>
/// Log events of the inbound proxy. Paths are logged without their query (which may carry access tokens);
/// bodies and headers are never logged.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Rejected {Method} {Path}: {StatusCode} {ErrorCode} ({Reason})", EventName = "RequestRejected")]
    public static partial void RequestRejected(ILogger logger, string method, string path, int statusCode, string errorCode, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Homeserver answered {Endpoint} with a response the proxy cannot pass on: {Reason}", EventName = "UpstreamBodyInvalid")]
    public static partial void UpstreamBodyInvalid(ILogger logger, string endpoint, string reason);

    [LoggerMessage(4, LogLevel.Warning, "Support information from {SupportUrl} is unavailable: {Reason}", EventName = "SupportUnavailable")]
    public static partial void SupportUnavailable(ILogger logger, string supportUrl, string reason);

    [LoggerMessage(7, LogLevel.Warning, "WellKnown:Server '{Server}' names no port: other servers then look up DNS SRV records for it and otherwise connect to port 8448; give the port explicitly, e.g. '{Suggestion}'", EventName = "WellKnownServerWithoutPort")]
    public static partial void WellKnownServerWithoutPort(ILogger logger, string server, string suggestion);

    [LoggerMessage(10, LogLevel.Information, "Rejected {Method} {Path}: {StatusCode} {ErrorCode} by TIM rule {Rule} ({Requirement})", EventName = "RuleRefused")]
    public static partial void RuleRefused(ILogger logger, string method, string path, string rule, string requirement, int statusCode, string errorCode);

    [LoggerMessage(11, LogLevel.Debug, "Rewrote the body of {Method} {Path} by TIM rule {Rule} ({Requirement})", EventName = "RuleRewrote")]
    public static partial void RuleRewrote(ILogger logger, string method, string path, string rule, string requirement);

    [LoggerMessage(12, LogLevel.Warning, "Could not read the age of the event to redact for TIM rule {Rule}: {Reason}; answered {StatusCode}", EventName = "EventLookupFailed")]
    public static partial void EventLookupFailed(ILogger logger, string rule, string reason, int statusCode);
}
