using MessengerProxy.Policy.Http;

namespace MessengerProxy.Policy.Federation;

/// <summary>
/// The <c>Authorization: X-Matrix …</c> header of server-server requests, parsed by the grammar the spec gives
/// (RFC 9110 auth-params): scheme <c>X-Matrix</c> (any case), one or more spaces, then comma-separated
/// <c>name=value</c> pairs with optional blanks around commas and <c>=</c>; names are case-insensitive and
/// may come in any order; values are tokens or quoted strings with backslash escapes, and for older senders
/// unquoted values may contain colons. Anything else is refused, and so is a repeated parameter.
/// The signature is checked by the inbound proxy's signature stage (and again by the homeserver).
/// </summary>
internal sealed class XMatrixAuthorization
{
    private const int MaxLength = 8 * 1024;

    // tchar plus ':' (servers must accept unquoted server names with ports) plus token68's '/' and '='.
    private static readonly System.Buffers.SearchValues<char> s_unquotedValueChars =
        System.Buffers.SearchValues.Create(HttpCharacters.TokenChars + ":/=");

    private XMatrixAuthorization(string origin, string? destination, string key, string signature)
    {
        Origin = origin;
        Destination = destination;
        Key = key;
        Signature = signature;
    }

    public string Origin { get; }

    public string? Destination { get; }

    public string Key { get; }

    public string Signature { get; }

    public static bool TryParse(string? header, out XMatrixAuthorization authorization, out string error)
    {
        authorization = null!;
        if (string.IsNullOrEmpty(header) || header.Length > MaxLength)
        {
            error = "missing or oversized header";
            return false;
        }

        var text = header.AsSpan().Trim();
        const string Scheme = "X-Matrix";
        if (text.Length <= Scheme.Length || !text[..Scheme.Length].Equals(Scheme, StringComparison.OrdinalIgnoreCase) || text[Scheme.Length] != ' ')
        {
            error = "not the X-Matrix scheme";
            return false;
        }

        var parameters = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var rest = text[(Scheme.Length + 1)..].TrimStart(' ');
        while (true)
        {
            var nameLength = rest.IndexOfAnyExcept(HttpCharacters.Token);
            if (nameLength <= 0)
            {
                error = "expected a parameter name";
                return false;
            }

            var name = rest[..nameLength].ToString();
            rest = rest[nameLength..].TrimStart(" \t");
            if (rest.IsEmpty || rest[0] != '=')
            {
                error = $"expected '=' after '{name}'";
                return false;
            }

            rest = rest[1..].TrimStart(" \t");
            string value;
            if (!rest.IsEmpty && rest[0] == '"')
            {
                if (!TryReadQuoted(ref rest, out value))
                {
                    error = $"unterminated quoted value of '{name}'";
                    return false;
                }
            }
            else
            {
                var valueLength = rest.IndexOfAnyExcept(s_unquotedValueChars);
                if (valueLength < 0)
                {
                    valueLength = rest.Length;
                }

                if (valueLength == 0)
                {
                    error = $"empty value of '{name}'";
                    return false;
                }

                value = rest[..valueLength].ToString();
                rest = rest[valueLength..];
            }

            if (!parameters.TryAdd(name, value))
            {
                error = $"parameter '{name}' appears twice";
                return false;
            }

            rest = rest.TrimStart(" \t");
            if (rest.IsEmpty)
            {
                break;
            }

            if (rest[0] != ',')
            {
                error = "expected ',' between parameters";
                return false;
            }

            rest = rest[1..].TrimStart(" \t");
        }

        if (!parameters.TryGetValue("origin", out var origin) || origin.Length == 0)
        {
            error = "no origin parameter";
            return false;
        }

        if (!parameters.TryGetValue("key", out var key) || !parameters.TryGetValue("sig", out var signature))
        {
            error = "key and sig parameters are required";
            return false;
        }

        authorization = new XMatrixAuthorization(origin, parameters.GetValueOrDefault("destination"), key, signature);
        error = string.Empty;
        return true;
    }

    private static bool TryReadQuoted(ref ReadOnlySpan<char> rest, out string value)
    {
        var builder = new System.Text.StringBuilder();
        for (var i = 1; i < rest.Length; i++)
        {
            var c = rest[i];
            if (c == '\\')
            {
                if (++i == rest.Length)
                {
                    break;
                }

                builder.Append(rest[i]);
            }
            else if (c == '"')
            {
                rest = rest[(i + 1)..];
                value = builder.ToString();
                return true;
            }
            else if (c is < ' ' and not '\t' or '\u007f')
            {
                break;
            }
            else
            {
                builder.Append(c);
            }
        }

        value = string.Empty;
        return false;
    }
}
