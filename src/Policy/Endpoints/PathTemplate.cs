namespace MessengerProxy.Policy.Endpoints;

internal enum TemplateSegmentKind
{
    Literal,

    /// <summary>Exactly one non-empty raw segment that is not a dot-segment.</summary>
    Parameter,

    /// <summary>Operator templates only: one or more remaining segments (<c>{*name}</c>).</summary>
    CatchAll,
}

internal readonly record struct TemplateSegment(TemplateSegmentKind Kind, string Text);

/// <summary>
/// A path template such as <c>/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}</c>. Literals are
/// compared with the raw (still percent-encoded) request path, ordinally, so an encoded or differently
/// cased literal never matches.
/// </summary>
internal sealed class PathTemplate
{
    private PathTemplate(string text, TemplateSegment[] segments)
    {
        Text = text;
        Segments = segments;
    }

    public string Text { get; }

    internal TemplateSegment[] Segments { get; }

    public override string ToString() => Text;

    /// <summary>The raw (still percent-encoded) segment of <paramref name="rawPath"/> that fills parameter <paramref name="name"/>.</summary>
    public bool TryGetParameter(ReadOnlySpan<char> rawPath, string name, out ReadOnlySpan<char> rawValue)
    {
        rawValue = default;
        var index = Array.FindIndex(Segments, s => s.Kind == TemplateSegmentKind.Parameter && s.Text == name);
        if (index < 0 || rawPath.IsEmpty || rawPath[0] != '/')
        {
            return false;
        }

        var position = 0;
        foreach (var range in rawPath[1..].Split('/'))
        {
            if (position++ == index)
            {
                rawValue = rawPath[1..][range];
                return true;
            }
        }

        return false;
    }

    /// <summary>Parses a template; <paramref name="allowCatchAll"/> admits a final <c>{*name}</c>.</summary>
    public static PathTemplate Parse(string text, bool allowCatchAll = false)
    {
        if (!TryParse(text, allowCatchAll, out var template, out var error))
        {
            throw new FormatException(error);
        }

        return template;
    }

    public static bool TryParse(string text, bool allowCatchAll, out PathTemplate template, out string error)
    {
        template = null!;
        if (string.IsNullOrEmpty(text) || text[0] != '/')
        {
            error = $"path template '{text}' must start with '/'";
            return false;
        }

        var parts = text[1..].Split('/');
        var segments = new TemplateSegment[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            var last = i == parts.Length - 1;
            if (part.Length > 2 && part[0] == '{' && part[^1] == '}')
            {
                var name = part[1..^1];
                if (name.StartsWith('*'))
                {
                    if (!allowCatchAll || !last || name.Length == 1)
                    {
                        error = $"path template '{text}': a catch-all '{{*name}}' is only allowed as the last segment of an operator endpoint";
                        return false;
                    }

                    segments[i] = new TemplateSegment(TemplateSegmentKind.CatchAll, name[1..]);
                    continue;
                }

                if (name.AsSpan().IndexOfAny('{', '}', '/') >= 0)
                {
                    error = $"path template '{text}': bad parameter '{part}'";
                    return false;
                }

                segments[i] = new TemplateSegment(TemplateSegmentKind.Parameter, name);
                continue;
            }

            if (part.Length == 0 && !last)
            {
                error = $"path template '{text}' has an empty segment";
                return false;
            }

            if (RequestTarget.IsDotSegment(part) || RequestTarget.FindInvalidPathCharacter(part) >= 0 || part.Contains('{') || part.Contains('}'))
            {
                error = $"path template '{text}': '{part}' is not a valid literal segment";
                return false;
            }

            segments[i] = new TemplateSegment(TemplateSegmentKind.Literal, part);
        }

        template = new PathTemplate(text, segments);
        error = string.Empty;
        return true;
    }
}
