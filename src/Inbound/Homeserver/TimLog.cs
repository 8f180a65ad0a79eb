using Microsoft.Extensions.Logging;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>
/// Log events of the invite check, the admin client and the cleanup (IDs 100–129; the inbound pipeline's are below
/// 100). Never a token, a user ID or a room ID: counts, reasons and statuses only.
/// </summary>
internal static partial class TimLog
{
    [LoggerMessage(100, LogLevel.Information, "Logged in to the homeserver's admin API", EventName = "AdminLoggedIn")]
    public static partial void AdminLoggedIn(ILogger logger);

    [LoggerMessage(101, LogLevel.Warning, "Homeserver admin API request {Operation} failed: {Reason}", EventName = "AdminFailed")]
    public static partial void AdminFailed(ILogger logger, string operation, string reason);

    [LoggerMessage(102, LogLevel.Warning, "Invite refused (fail closed) at {Point}: the invitee's permission configuration could not be read ({Reason})", EventName = "InviteCheckFailed")]
    public static partial void InviteCheckFailed(ILogger logger, string point, string reason);

    [LoggerMessage(103, LogLevel.Information, "A permission configuration breaks its schema ({Reason}); read as the default", EventName = "PermissionConfigMalformed")]
    public static partial void PermissionConfigMalformed(ILogger logger, string reason);

    [LoggerMessage(104, LogLevel.Warning, "Could not resolve the caller's access token: {Reason}; answered {StatusCode}", EventName = "TokenLookupFailed")]
    public static partial void TokenLookupFailed(ILogger logger, string reason, int statusCode);

    [LoggerMessage(110, LogLevel.Information, "Orphaned-room cleanup started (threshold {Threshold}, dry run {DryRun})", EventName = "CleanupStarted")]
    public static partial void CleanupStarted(ILogger logger, TimeSpan threshold, bool dryRun);

    [LoggerMessage(111, LogLevel.Information, "Orphaned-room cleanup finished: {Examined} rooms examined, {Orphaned} orphaned, {Deleted} deleted, {Failed} failed", EventName = "CleanupFinished")]
    public static partial void CleanupFinished(ILogger logger, int examined, int orphaned, int deleted, int failed);

    [LoggerMessage(112, LogLevel.Information, "Orphaned-room cleanup dry run: one room would be deleted (newest event {Age} old)", EventName = "CleanupWouldDelete")]
    public static partial void CleanupWouldDelete(ILogger logger, TimeSpan age);

    [LoggerMessage(113, LogLevel.Warning, "Orphaned-room cleanup: a room could not be handled: {Reason}", EventName = "CleanupRoomFailed")]
    public static partial void CleanupRoomFailed(ILogger logger, string reason);

    [LoggerMessage(114, LogLevel.Warning, "Orphaned-room cleanup run failed: {Reason}", EventName = "CleanupFailed")]
    public static partial void CleanupFailed(ILogger logger, string reason);

    [LoggerMessage(115, LogLevel.Information, "Orphaned-room cleanup skipped: {Reason}", EventName = "CleanupSkipped")]
    public static partial void CleanupSkipped(ILogger logger, string reason);
}
