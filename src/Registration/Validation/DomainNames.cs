namespace MessengerProxy.Registration.Validation;

/// <summary>Validation and normalisation of domain and server names.</summary>
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

        var lower = input.ToLowerInvariant();
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
        var valid = MessengerProxy.Policy.Federation.ServerNames.TryGetHost(input, out _);
        serverName = valid ? input!.ToLowerInvariant() : string.Empty;
        return valid;
    }

    private static string Shorten(string value) => value.Length <= 64 ? value : value[..61] + "...";
}
