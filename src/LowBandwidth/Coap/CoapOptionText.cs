using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Unicode;

namespace MessengerProxy.LowBandwidth.Coap;

/// <summary>
/// Option values that become parts of the HTTP request: string options (RFC 7252 §3.2 says UTF-8) and
/// MSC3079's access token. Each is checked once here, before a request is built, so nothing the HTTP side
/// would refuse or silently alter (an upstream failure, U+FFFD in a path) can get that far.
/// </summary>
internal static class CoapOptionText
{
    private const string BearerPrefix = "Bearer ";

    /// <summary>The option as text; false when it is not valid UTF-8 (decoding it anyway would replace bytes with U+FFFD and ask for another resource).</summary>
    public static bool TryGetString(ReadOnlySpan<byte> value, [NotNullWhen(true)] out string? text)
    {
        text = Utf8.IsValid(value) ? Encoding.UTF8.GetString(value) : null;
        return text is not null;
    }

    /// <summary>
    /// The token of option 256 (with or without <c>Bearer </c>), when it can travel in an Authorization header
    /// exactly as sent: visible ASCII only (RFC 6750's b64token is a subset of it). Non-ASCII bytes, control
    /// bytes (a CR LF would start another header) and spaces are refused.
    /// </summary>
    public static bool TryGetAccessToken(ReadOnlySpan<byte> value, [NotNullWhen(true)] out string? token)
    {
        if (value.Length >= BearerPrefix.Length && Ascii.EqualsIgnoreCase(value[..BearerPrefix.Length], BearerPrefix))
        {
            value = value[BearerPrefix.Length..];
        }

        token = value.ContainsAnyExceptInRange((byte)0x21, (byte)0x7E) ? null : Encoding.ASCII.GetString(value);
        return token is not null;
    }
}
