using MessengerProxy.Policy.Http;

namespace MessengerProxy.Policy;

public enum RequestTargetError
{
    None,

    /// <summary>Absolute-form, authority-form or asterisk-form; a reverse proxy only takes origin-form.</summary>
    NotOriginForm,

    /// <summary>A byte outside RFC 3986 <c>pchar</c> in the path, or a non-visible byte in the query.</summary>
    InvalidCharacter,

    /// <summary>A '%' not followed by two hex digits.</summary>
    InvalidPercentEncoding,

    /// <summary>An encoded control character (%00-%1F, %7F) in the path.</summary>
    EncodedControlCharacter,
}

/// <summary>
/// The request target exactly as the client sent it (origin-form: path and optional query). Nothing is
/// decoded or normalised: federation signatures cover these bytes, so they are matched and forwarded
/// as they are.
/// </summary>
internal readonly struct RequestTarget
{
    private RequestTarget(string raw, int pathLength)
    {
        Raw = raw;
        PathLength = pathLength;
    }

    /// <summary>The complete raw target, path and query.</summary>
    public string Raw { get; }

    public int PathLength { get; }

    public ReadOnlySpan<char> Path => Raw.AsSpan(0, PathLength);

    public bool HasQuery => PathLength < Raw.Length;

    /// <summary>The query without the leading '?'; empty when there is none.</summary>
    public ReadOnlySpan<char> Query => HasQuery ? Raw.AsSpan(PathLength + 1) : default;

    public override string ToString() => Raw;

    public static RequestTargetError TryParse(string raw, out RequestTarget target)
    {
        target = default;
        if (string.IsNullOrEmpty(raw) || raw[0] != '/')
        {
            return RequestTargetError.NotOriginForm;
        }

        var queryStart = raw.IndexOf('?');
        var pathLength = queryStart < 0 ? raw.Length : queryStart;
        var path = raw.AsSpan(0, pathLength);

        if (FindInvalidPathCharacter(path) >= 0)
        {
            return RequestTargetError.InvalidCharacter;
        }

        var error = CheckPercentEncoding(path, rejectControl: true);
        if (error != RequestTargetError.None)
        {
            return error;
        }

        if (queryStart >= 0)
        {
            // The query is not used for routing, so it is held to a looser rule than the path: clients do send
            // unencoded JSON filters. Only visible ASCII is accepted, and percent-escapes must be well formed.
            var query = raw.AsSpan(queryStart + 1);
            foreach (var c in query)
            {
                if (c is < '!' or > '~' or '#')
                {
                    return RequestTargetError.InvalidCharacter;
                }
            }

            error = CheckPercentEncoding(query, rejectControl: false);
            if (error != RequestTargetError.None)
            {
                return error;
            }
        }

        target = new RequestTarget(raw, pathLength);
        return RequestTargetError.None;
    }

    /// <summary>Index of the first character that may not appear in a raw path, or -1.</summary>
    public static int FindInvalidPathCharacter(ReadOnlySpan<char> path) => path.IndexOfAnyExcept(HttpCharacters.Path);

    /// <summary>
    /// True for ".", "..", and their percent-encoded spellings ("%2e", ".%2E", ...). Such segments are
    /// resolved away by URL normalisers, so they could smuggle a path past a literal comparison.
    /// </summary>
    public static bool IsDotSegment(ReadOnlySpan<char> segment)
    {
        var dots = 0;
        for (var i = 0; i < segment.Length;)
        {
            if (segment[i] == '.')
            {
                i++;
            }
            else if (segment[i] == '%' && i + 2 < segment.Length && segment[i + 1] == '2' && (segment[i + 2] | 0x20) == 'e')
            {
                i += 3;
            }
            else
            {
                return false;
            }

            if (++dots > 2)
            {
                return false;
            }
        }

        return dots > 0;
    }

    /// <summary>Whether the query has a parameter whose name, decoded as the homeserver decodes it, is <paramref name="name"/>.</summary>
    public static bool QueryContainsKey(ReadOnlySpan<char> query, string name)
    {
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            if (IsKey(key, name))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Every value of query parameter <paramref name="name"/>, decoded as the homeserver decodes them (form
    /// encoding: names and values percent-decoded as UTF-8, <c>+</c> as space), so an encoded name is found too.
    /// </summary>
    public static List<string> QueryValues(ReadOnlySpan<char> query, string name)
    {
        var values = new List<string>();
        foreach (var range in query.Split('&'))
        {
            var pair = query[range];
            var eq = pair.IndexOf('=');
            var key = eq < 0 ? pair : pair[..eq];
            if (IsKey(key, name))
            {
                values.Add(eq < 0 ? string.Empty : FormDecode(pair[(eq + 1)..]));
            }
        }

        return values;
    }

    private static string FormDecode(ReadOnlySpan<char> value) =>
        Uri.UnescapeDataString(value.ToString().Replace('+', ' '));

    // Decoding costs an allocation, so only names that carry an escape are decoded.
    private static bool IsKey(ReadOnlySpan<char> key, string name) =>
        key.SequenceEqual(name) || ((key.Contains('%') || key.Contains('+')) && FormDecode(key) == name);

    private static RequestTargetError CheckPercentEncoding(ReadOnlySpan<char> value, bool rejectControl)
    {
        var i = value.IndexOf('%');
        while (i >= 0)
        {
            if (i + 2 >= value.Length || !IsHex(value[i + 1]) || !IsHex(value[i + 2]))
            {
                return RequestTargetError.InvalidPercentEncoding;
            }

            var decoded = (HexValue(value[i + 1]) << 4) | HexValue(value[i + 2]);
            if (rejectControl && decoded is < 0x20 or 0x7F)
            {
                return RequestTargetError.EncodedControlCharacter;
            }

            var next = value[(i + 3)..].IndexOf('%');
            i = next < 0 ? -1 : i + 3 + next;
        }

        return RequestTargetError.None;
    }

    private static bool IsHex(char c) => char.IsAsciiHexDigit(c);

    private static int HexValue(char c) => c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}
