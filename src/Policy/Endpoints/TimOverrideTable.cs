namespace MessengerProxy.Policy.Endpoints;

/// <summary>What a TIM override does to its endpoint.</summary>
internal enum TimOverrideKind
{
    /// <summary>An X-Matrix authorization is required (and its origin must be federated), whatever the spec says.</summary>
    XMatrix,

    /// <summary>An access token is required, whatever the spec says.</summary>
    AccessToken,

    /// <summary>The proxy answers with a fixed error; nothing is forwarded.</summary>
    Answer,
}

/// <summary>One row of <c>Endpoints/tim-overrides.tsv</c>.</summary>
internal sealed class TimOverride
{
    internal TimOverride(string id, IReadOnlyList<string> methods, PathTemplate template, TimOverrideKind kind, MatrixError? answer, string requirement)
    {
        Id = id;
        Methods = methods;
        Template = template;
        Kind = kind;
        Answer = answer;
        Rule = new TimRule(id, requirement);
    }

    /// <summary>What the operator disables the row by (<c>Tim:Overrides:Disabled</c>).</summary>
    public string Id { get; }

    public IReadOnlyList<string> Methods { get; }

    public PathTemplate Template { get; }

    public TimOverrideKind Kind { get; }

    /// <summary>The fixed answer of an <see cref="TimOverrideKind.Answer"/> row.</summary>
    public MatrixError? Answer { get; }

    /// <summary>The row as a rule: its id and requirement, for logs and metrics.</summary>
    public TimRule Rule { get; }

    public override string ToString() => $"{Id}: {string.Join(',', Methods)} {Template.Text} {Kind}";
}

/// <summary>
/// The TIM endpoint overrides, committed as data next to the generated v1.11 table
/// (<c>Endpoints/tim-overrides.tsv</c>) rather than written as code, so that they can be read, reviewed and
/// switched off row by row.
/// </summary>
internal static class TimOverrideTable
{
    internal const string ResourceName = "MessengerProxy.Policy.tim-overrides.tsv";

    private static readonly string[] s_header = ["id", "methods", "path", "kind", "status", "errcode", "message", "requirement"];

    /// <summary>The committed rows.</summary>
    public static IReadOnlyList<TimOverride> Load()
    {
        using var stream = typeof(TimOverrideTable).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }

    public static IReadOnlyList<TimOverride> Parse(TextReader reader)
    {
        var rows = new List<TimOverride>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (lineNumber, cols) in TsvRows.Read(reader, s_header, "override table"))
        {
            var (id, methods, path, kindText, status, errcode, message, requirement) = (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7]);
            if (id.Length == 0 || !ids.Add(id))
            {
                throw new FormatException($"line {lineNumber}: id '{id}' is empty or repeated");
            }

            var kind = kindText switch
            {
                "x-matrix" => TimOverrideKind.XMatrix,
                "access-token" => TimOverrideKind.AccessToken,
                "answer" => TimOverrideKind.Answer,
                _ => throw new FormatException($"line {lineNumber}: unknown kind '{kindText}'"),
            };

            MatrixError? answer = null;
            if (kind == TimOverrideKind.Answer)
            {
                if (!int.TryParse(status, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var code) || code is < 400 or > 599
                    || !errcode.StartsWith("M_", StringComparison.Ordinal) || message.Length == 0)
                {
                    throw new FormatException($"line {lineNumber}: an answer needs a 4xx/5xx status, an M_ errcode and a message");
                }

                answer = new MatrixError(code, errcode, message);
            }
            else if (status != "-" || errcode != "-" || message != "-")
            {
                throw new FormatException($"line {lineNumber}: only answers have status, errcode and message");
            }

            rows.Add(new TimOverride(id, methods.Split(','), PathTemplate.Parse(path), kind, answer, requirement));
        }

        return rows;
    }
}
