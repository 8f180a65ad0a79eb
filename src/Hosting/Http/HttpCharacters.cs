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
