using MessengerProxy.Registration.Configuration;

namespace MessengerProxy.Registration.Vzd;

/// <summary>Why the VZD gave no usable token; a metrics label and the reason code of the log line.</summary>
internal enum VzdAuthenticationFailure
{
    SecretUnreadable,
    TokenEndpointUnreachable,
    TokenEndpointStatus,
    TokenEndpointBadResponse,
    AuthenticateUnreachable,
    AuthenticateStatus,
    AuthenticateBadResponse,

    /// <summary>The VZD answered 401 to a token, and again to the one that replaced it.</summary>
    Refused,
}

/// <summary>
/// A VZD authentication that failed. It is an <see cref="HttpRequestException"/> so the fetcher treats it like any
/// other failed fetch (logged, previous list kept). Its message names the step and the status or fault, never a
/// secret or a token.
/// </summary>
internal sealed class VzdAuthenticationException(VzdAuthenticationFailure failure, string detail, Exception? inner = null)
    : HttpRequestException($"VZD authentication failed ({Label(failure)}): {detail}", inner)
{
    public VzdAuthenticationFailure Failure { get; } = failure;

    public string Detail { get; } = detail;

    public static string Label(VzdAuthenticationFailure failure) => failure switch
    {
        VzdAuthenticationFailure.SecretUnreadable => "secret_unreadable",
        VzdAuthenticationFailure.TokenEndpointUnreachable => "token_endpoint_unreachable",
        VzdAuthenticationFailure.TokenEndpointStatus => "token_endpoint_status",
        VzdAuthenticationFailure.TokenEndpointBadResponse => "token_endpoint_bad_response",
        VzdAuthenticationFailure.AuthenticateUnreachable => "authenticate_unreachable",
        VzdAuthenticationFailure.AuthenticateStatus => "authenticate_status",
        VzdAuthenticationFailure.AuthenticateBadResponse => "authenticate_bad_response",
        _ => "refused",
    };
}

/// <summary>The OAuth client secret, from <c>Vzd:ClientSecret</c> or the file <c>Vzd:ClientSecretFile</c>.</summary>
internal static class VzdClientSecret
{
    // A secret file is a few dozen bytes; anything much larger is the wrong file.
    private const long MaxFileBytes = 64 * 1024;

    /// <summary>
    /// The secret, trimmed. The file is read at each call, so a rotated secret (a Kubernetes secret volume) is used
    /// from the next token request on. <paramref name="why"/> names the file, never its content.
    /// </summary>
    public static bool TryRead(VzdOptions options, out string secret, out string why)
    {
        secret = string.Empty;
        why = string.Empty;
        if (string.IsNullOrEmpty(options.ClientSecretFile))
        {
            secret = (options.ClientSecret ?? string.Empty).Trim();
            why = secret.Length == 0 ? "no client secret is configured" : string.Empty;
            return secret.Length > 0;
        }

        try
        {
            var info = new FileInfo(options.ClientSecretFile);
            if (info.Exists && info.Length > MaxFileBytes)
            {
                why = $"'{options.ClientSecretFile}' is {info.Length} bytes, more than a secret ({MaxFileBytes} bytes at most)";
                return false;
            }

            secret = File.ReadAllText(options.ClientSecretFile).Trim();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The exception's message names the path and the fault (not found, permission), nothing of the content.
            why = $"'{options.ClientSecretFile}' cannot be read: {ex.Message}";
            return false;
        }

        if (secret.Length == 0)
        {
            why = $"'{options.ClientSecretFile}' is empty";
            return false;
        }

        return true;
    }
}
