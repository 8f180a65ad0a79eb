using Microsoft.Extensions.Logging;

namespace MessengerProxy.Outbound.Diagnostics;

/// <summary>
/// Log events of the outbound proxy. Paths are logged without their query; bodies, tokens and X-Matrix
/// signatures are never logged.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(101, LogLevel.Information, "Refused CONNECT {Host}:{Port} from {Client}: {StatusCode} ({Reason})", EventName = "TunnelRefused")]
    public static partial void TunnelRefused(ILogger logger, string host, int port, string client, int statusCode, string reason);

    [LoggerMessage(102, LogLevel.Information, "Refused malformed proxy request from {Client}: {StatusCode} ({Reason})", EventName = "MalformedProxyRequest")]
    public static partial void MalformedProxyRequest(ILogger logger, string client, int statusCode, string reason);

    [LoggerMessage(103, LogLevel.Debug, "TLS handshake inside the tunnel to {Host}:{Port} failed: {Reason}", EventName = "TunnelHandshakeFailed")]
    public static partial void TunnelHandshakeFailed(ILogger logger, string host, int port, string reason);

    [LoggerMessage(104, LogLevel.Information, "Refused {Method} {Host}{Path}: {StatusCode} {ErrorCode} ({Reason})", EventName = "RequestRefused")]
    public static partial void RequestRefused(ILogger logger, string method, string host, string path, int statusCode, string errorCode, string reason);

    [LoggerMessage(106, LogLevel.Information, "Learned delegation of {ServerName} to {Host} from its /.well-known/matrix/server", EventName = "DelegationLearned")]
    public static partial void DelegationLearned(ILogger logger, string serverName, string host);

    [LoggerMessage(107, LogLevel.Warning, "Outbound connection limit of {Limit} reached; refused a connection from {Client}", EventName = "ConnectionLimit")]
    public static partial void ConnectionLimit(ILogger logger, int limit, string client);

    [LoggerMessage(109, LogLevel.Information, "Outbound proxy CA {Subject} (valid until {NotAfter:u}) loaded", EventName = "CaLoaded")]
    public static partial void CaLoaded(ILogger logger, string subject, DateTime notAfter);

    [LoggerMessage(110, LogLevel.Information, "Accepted CONNECT {Host}:{Port} from {Client} only to refuse every request inside: {StatusCode} ({Reason})", EventName = "TunnelRefusedInside")]
    public static partial void TunnelRefusedInside(ILogger logger, string host, int port, string client, int statusCode, string reason);

    [LoggerMessage(111, LogLevel.Warning, "Refused CONNECT {Host}:{Port} from {Client} at the CONNECT: the budget of {Limit} certificates per {Period} for hosts outside the federation is spent", EventName = "UnlistedMintBudgetSpent")]
    public static partial void UnlistedMintBudgetSpent(ILogger logger, string host, int port, string client, int limit, TimeSpan period);
}
