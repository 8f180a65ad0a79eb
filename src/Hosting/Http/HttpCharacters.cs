using System.Buffers;

namespace MessengerProxy.Hosting.Http;

/// <summary>The character classes of RFC 9110 that every header check of the proxy uses, defined once.</summary>
public static class HttpCharacters
{
    /// <summary>RFC 9110 §5.6.2 <c>tchar</c>.</summary>
    public static readonly SearchValues<char> Token =
        SearchValues.Create("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");

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
