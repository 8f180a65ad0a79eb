using System.Buffers;

namespace MessengerProxy.Policy.Http;

/// <summary>
/// The character classes of RFC 9110 and RFC 3986 that every parser of the proxy uses, defined once (in the
/// manner of Kestrel's <c>HttpCharacters</c>). It lives in Policy, the lowest project, because the raw-target
/// and X-Matrix parsers there need it as much as Hosting's header checks and the tunnels' CONNECT reader do.
/// </summary>
internal static class HttpCharacters
{
    /// <summary>RFC 9110 §5.6.2 <c>tchar</c>, as text for classes that extend it.</summary>
    public const string TokenChars = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    /// <summary>RFC 3986 §3.3 <c>pchar</c> without <c>pct-encoded</c>: unreserved / sub-delims / ":" / "@".</summary>
    public const string PathSegmentChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@";

    /// <summary>RFC 9110 §5.6.2 <c>tchar</c>.</summary>
    public static readonly SearchValues<char> Token = SearchValues.Create(TokenChars);

    /// <summary><see cref="Token"/> for parsers that read bytes (the CONNECT head).</summary>
    public static readonly SearchValues<byte> TokenBytes = SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"u8);

    /// <summary>RFC 3986 <c>pchar</c> without <c>pct-encoded</c> (<see cref="PathSegmentChars"/>).</summary>
    public static readonly SearchValues<char> PathSegment = SearchValues.Create(PathSegmentChars);

    /// <summary>
    /// What a raw path may hold: <see cref="PathSegment"/>, the segment separator and the '%' that starts a
    /// <c>pct-encoded</c> (whose two hex digits the caller checks).
    /// </summary>
    public static readonly SearchValues<char> Path = SearchValues.Create(PathSegmentChars + "/%");

    /// <summary>
    /// What a header value may hold here: HTAB and visible ASCII including space. RFC 9110 tolerates obs-text
    /// (bytes over 0x7F), but parsers disagree on its meaning and no Matrix header needs it.
    /// </summary>
    public static readonly SearchValues<char> FieldValue = SearchValues.Create(CreateFieldValue());

    /// <summary>Control characters other than HTAB (which a field value may hold).</summary>
    public static readonly SearchValues<char> Control = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\u000A\u000B\u000C\u000D\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\u007F");

    /// <summary>RFC 3986 reg-name without percent-encoding: unreserved characters and the sub-delims a host may have.</summary>
    public static readonly SearchValues<char> RegName =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~");

    private static string CreateFieldValue()
    {
        var chars = new char[1 + 0x7E - 0x20 + 1];
        chars[0] = '\t';
        for (var c = 0x20; c <= 0x7E; c++)
        {
            chars[c - 0x20 + 1] = (char)c;
        }

        return new string(chars);
    }
}
