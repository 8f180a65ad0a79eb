using Microsoft.Extensions.Logging;

namespace MessengerProxy.Registration.Vzd;

/// <summary>Log events of the VZD authentication (event IDs 20–29; <see cref="Log"/> holds 1–19). No secret or token is ever a parameter.</summary>
internal static partial class VzdLog
{
    [LoggerMessage(20, LogLevel.Information, "VZD token obtained; it is renewed in {RenewSeconds} s (the VZD gave it {LifetimeSeconds} s)", EventName = "VzdTokenIssued")]
    public static partial void TokenIssued(ILogger logger, long renewSeconds, long? lifetimeSeconds);

    [LoggerMessage(21, LogLevel.Warning, "VZD authentication failed ({Reason}): {Detail}", EventName = "VzdAuthenticationFailed")]
    public static partial void AuthenticationFailed(ILogger logger, string reason, string detail);

    [LoggerMessage(22, LogLevel.Information, "The VZD answered 401 to the current token; authenticating again once", EventName = "VzdTokenRejected")]
    public static partial void TokenRejected(ILogger logger);
}
