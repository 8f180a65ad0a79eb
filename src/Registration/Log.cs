using Microsoft.Extensions.Logging;

namespace MessengerProxy.Registration;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Information, "Federation list version {Version} stored ({DomainCount} domains, source {Source})", EventName = "FederationListStored")]
    public static partial void FederationListStored(ILogger logger, long version, int domainCount, string source);

    [LoggerMessage(2, LogLevel.Warning, "Signed federation list from {Source} refused, previous list stays in force: {Reason}", EventName = "FederationListRefused")]
    public static partial void FederationListRefused(ILogger logger, string source, string reason);

    [LoggerMessage(3, LogLevel.Warning, "Fetching the federation list from {Url} failed: {Reason}", EventName = "VzdFetchFailed")]
    public static partial void VzdFetchFailed(ILogger logger, string url, string reason);

    [LoggerMessage(4, LogLevel.Debug, "The VZD has no federation list newer than version {SourceVersion}", EventName = "VzdNotModified")]
    public static partial void VzdNotModified(ILogger logger, long? sourceVersion);

    [LoggerMessage(5, LogLevel.Information, "Admin {Method} {Path}: {StatusCode}", EventName = "AdminRequest")]
    public static partial void AdminRequest(ILogger logger, string method, string path, int statusCode);

    [LoggerMessage(6, LogLevel.Warning, "Admin request {Method} {Path} refused: {Reason}", EventName = "AdminRefused")]
    public static partial void AdminRefused(ILogger logger, string method, string path, string reason);

    [LoggerMessage(7, LogLevel.Information, "Database migrations applied ({Count} pending before)", EventName = "MigrationsApplied")]
    public static partial void MigrationsApplied(ILogger logger, int count);

    [LoggerMessage(8, LogLevel.Warning, "{Method} {Path} answered 503: the database is unavailable ({Reason})", EventName = "DatabaseUnavailable")]
    public static partial void DatabaseUnavailable(ILogger logger, string method, string path, string reason);
}
