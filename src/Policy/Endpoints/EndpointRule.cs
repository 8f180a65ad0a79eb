namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// An operator-supplied endpoint rule, written as <c>"METHOD[,METHOD...] /path/{param}/{*rest}"</c>;
/// <c>*</c> as method means every method (only meaningful for denials).
/// </summary>
internal sealed class EndpointRule
{
    private static readonly string[] s_methods = ["GET", "PUT", "POST", "DELETE", "PATCH"];

    private EndpointRule(string text, IReadOnlyList<string> methods, PathTemplate template)
    {
        Text = text;
        Methods = methods;
        Template = template;
    }

    public string Text { get; }

    /// <summary>Upper-case methods; empty means every method.</summary>
    public IReadOnlyList<string> Methods { get; }

    public PathTemplate Template { get; }

    public override string ToString() => Text;

    /// <summary>Parses configured rules; each bad one adds an error naming <paramref name="key"/> and its index.</summary>
    public static List<EndpointRule> ParseAll(List<string> errors, string key, IReadOnlyList<string> texts, bool allowCatchAll)
    {
        var rules = new List<EndpointRule>();
        for (var i = 0; i < texts.Count; i++)
        {
            if (TryParse(texts[i], allowCatchAll, out var rule, out var error))
            {
                rules.Add(rule);
            }
            else
            {
                errors.Add($"{key}:{i}: {error}");
            }
        }

        return rules;
    }

    public static bool TryParse(string? text, bool allowCatchAll, out EndpointRule rule, out string error)
    {
        rule = null!;
        var parts = (text ?? string.Empty).Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2)
        {
            error = $"'{text}' is not of the form \"METHOD /path/template\"";
            return false;
        }

        var methods = new List<string>();
        if (parts[0] != "*")
        {
            foreach (var m in parts[0].Split(',', StringSplitOptions.RemoveEmptyEntries))
            {
                var method = m.ToUpperInvariant();
                if (Array.IndexOf(s_methods, method) < 0)
                {
                    error = $"'{text}': method '{m}' is not one of {string.Join(", ", s_methods)} or *";
                    return false;
                }

                methods.Add(method);
            }
        }

        if (!PathTemplate.TryParse(parts[1], allowCatchAll, out var template, out error))
        {
            error = $"'{text}': {error}";
            return false;
        }

        rule = new EndpointRule(text!, methods, template);
        return true;
    }
}
