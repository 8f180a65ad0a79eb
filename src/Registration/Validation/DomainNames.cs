using System.Globalization;
using System.Text;
using MessengerProxy.Policy.Federation;

namespace MessengerProxy.Registration.Validation;

/// <summary>
/// The service's one normaliser of domain and server names. Names are ASCII: the check comes before any case
/// folding, because folding maps look-alikes onto the letters they imitate (KELVIN SIGN U+212A lower-cases
/// to 'k', so "\u212Aey.example" would become key.example). Internationalised names are accepted only as
/// A-labels (xn--…). U-labels are refused rather than mapped: this service runs with invariant
/// globalisation, where <see cref="IdnMapping"/> applies neither IDNA2008 nor Unicode normalisation (it
/// encodes KELVIN SIGN as it is), so no mapping done here could be trusted to match what DNS registries do.
/// </summary>
internal static class DomainNames
{
    /// <summary>
    /// Accepts an ASCII DNS name (IDNs in their xn-- form) with at least two labels, and returns it in lower
    /// case. No ports, no IP literals, no trailing dot, no blanks.
    /// </summary>
    public static bool TryNormalize(string? input, out string domain, out string error)
    {
        domain = string.Empty;
        if (string.IsNullOrEmpty(input))
        {
            error = "must not be empty";
            return false;
        }

        if (input.Length > 253)
        {
            error = $"'{Shorten(input)}' is longer than 253 characters";
            return false;
        }

        if (!Ascii.IsValid(input))
        {
            error = $"'{Shorten(input)}' contains non-ASCII characters; give internationalised names as A-labels (xn--…)";
            return false;
        }

        var lower = ServerName.NormalizeHost(input);
        var labels = lower.Split('.');
        if (labels.Length < 2)
        {
            error = $"'{input}' is not a fully qualified domain name";
            return false;
        }

        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63
                || label[0] == '-' || label[^1] == '-'
                || label.AsSpan().ContainsAnyExcept("abcdefghijklmnopqrstuvwxyz0123456789-"))
            {
                error = $"'{Shorten(input)}' is not a valid domain name (labels of 1-63 letters, digits and inner hyphens)";
                return false;
            }

            if (label.StartsWith("xn--", StringComparison.Ordinal) && !IsALabel(label))
            {
                error = $"'{Shorten(input)}': '{label}' is not a valid A-label (the Punycode of a lower-case, non-ASCII U-label)";
                return false;
            }
        }

        if (labels[^1].AsSpan().IndexOfAnyExceptInRange('0', '9') < 0)
        {
            error = $"'{input}' looks like an IP address, not a domain name";
            return false;
        }

        domain = lower;
        error = string.Empty;
        return true;
    }

    /// <summary>A Matrix server name (domain, IPv4 or [IPv6], optional port), lower-cased.</summary>
    public static bool TryNormalizeServerName(string? input, out string serverName)
    {
        // The grammar admits ASCII only and is checked on the input as given, before lower-casing.
        var valid = ServerName.TryParse(input, out var parsed);
        serverName = valid ? parsed.ToString() : string.Empty;
        return valid;
    }

    /// <summary>
    /// Whether an xn-- label is the Punycode of a U-label that could stand in DNS: it must decode, encode back
    /// to itself, and decode to non-ASCII text without controls or capitals (RFC 5891 5.4, RFC 5892 2.2: upper
    /// case is unstable under case folding and so disallowed; "xn--ey-0qu" is KELVIN SIGN + "ey").
    /// </summary>
    private static bool IsALabel(string label)
    {
        var idn = new IdnMapping { UseStd3AsciiRules = true, AllowUnassigned = false };
        string unicode;
        try
        {
            unicode = idn.GetUnicode(label);
            if (!string.Equals(idn.GetAscii(unicode), label, StringComparison.Ordinal))
            {
                return false;
            }
        }
        catch (ArgumentException)
        {
            return false;
        }

        foreach (var c in unicode)
        {
            // Below U+00A0 only the ASCII letters, digits and hyphen of an LDH label; no C0 or C1 controls.
            if (c < '\u00A0' && c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            {
                return false;
            }
        }

        return !Ascii.IsValid(unicode) && string.Equals(unicode, unicode.ToLowerInvariant(), StringComparison.Ordinal);
    }

    private static string Shorten(string value) => value.Length <= 64 ? value : value[..61] + "...";
}
