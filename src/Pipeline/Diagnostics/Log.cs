using Microsoft.Extensions.Logging;

namespace MessengerProxy.Pipeline.Diagnostics;

/// <summary>
/// Log events of the pipeline both proxies share (event IDs 200–219). Paths are logged as endpoint templates or
/// masked, without their query; bodies, tokens and signatures are never logged.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(201, LogLevel.Warning, "Request {Method} {Upstream} {Endpoint} failed: {ForwarderError} ({Reason}); answered {StatusCode}", EventName = "UpstreamFailed")]
    public static partial void UpstreamFailed(ILogger logger, string method, string upstream, string endpoint, string forwarderError, string reason, int statusCode);

    [LoggerMessage(202, LogLevel.Information, "Refused {Method} {Upstream} {Endpoint}: {StatusCode} {ErrorCode} ({ForwarderError})", EventName = "ForwardingRefused")]
    public static partial void ForwardingRefused(ILogger logger, string method, string upstream, string endpoint, int statusCode, string errorCode, string forwarderError);

    [LoggerMessage(203, LogLevel.Debug, "Client aborted {Method} {Upstream} {Endpoint}: {ForwarderError}", EventName = "ClientAborted")]
    public static partial void ClientAborted(ILogger logger, string method, string upstream, string endpoint, string forwarderError);

    [LoggerMessage(204, LogLevel.Error, "Unhandled error while handling {Method} {Path}", EventName = "UnhandledError")]
    public static partial void UnhandledError(ILogger logger, string method, string path, Exception exception);
}
