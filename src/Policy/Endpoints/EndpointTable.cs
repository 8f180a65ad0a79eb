namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// The set of endpoints the proxy lets through: the table derived from the Matrix v1.11 spec
/// (<c>Endpoints/matrix-v1.11-endpoints.tsv</c>), plus operator additions, minus operator denials.
/// </summary>
internal sealed class EndpointTable
{
    internal const string MatrixV111ResourceName = "MessengerProxy.Policy.matrix-v1.11-endpoints.tsv";

    private EndpointTable(IReadOnlyList<EndpointDescriptor> endpoints) => Endpoints = endpoints;

    public IReadOnlyList<EndpointDescriptor> Endpoints { get; }

    /// <summary>The committed table of every Matrix v1.11 client-server and server-server operation.</summary>
    public static EndpointTable LoadMatrixV111()
    {
        using var stream = typeof(EndpointTable).Assembly.GetManifestResourceStream(MatrixV111ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {MatrixV111ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }

    private static readonly string[] s_header = ["method", "path", "api", "auth", "body", "deprecated", "query", "source"];

    /// <summary>Parses the tab-separated table format written by the allowlist generator.</summary>
    public static EndpointTable Parse(TextReader reader)
    {
        var endpoints = new List<EndpointDescriptor>();
        foreach (var (lineNumber, cols) in TsvRows.Read(reader, s_header, "endpoint table"))
        {
            endpoints.Add(new EndpointDescriptor(
                cols[0],
                PathTemplate.Parse(cols[1]),
                cols[2] switch
                {
                    "client-server" => MatrixApi.ClientServer,
                    "server-server" => MatrixApi.ServerServer,
                    _ => throw new FormatException($"line {lineNumber}: unknown api '{cols[2]}'"),
                },
                cols[3] switch
                {
                    "none" => AuthRequirement.None,
                    "optional" => AuthRequirement.Optional,
                    "required" => AuthRequirement.Required,
                    _ => throw new FormatException($"line {lineNumber}: unknown auth '{cols[3]}'"),
                },
                cols[4] switch
                {
                    "none" => RequestBodyKind.None,
                    "json" => RequestBodyKind.Json,
                    "binary" => RequestBodyKind.Binary,
                    _ => throw new FormatException($"line {lineNumber}: unknown body '{cols[4]}'"),
                },
                cols[5] == "yes",
                cols[6] == "-" ? [] : cols[6].Split(',')));
        }

        return new EndpointTable(endpoints);
    }

    /// <summary>
    /// The same endpoints with the TIM rulebook in their traits: overrides of authentication or fixed answers, and
    /// which content rules look at them. Rows the rulebook names but the table lacks (denied by the operator) are
    /// simply absent.
    /// </summary>
    public EndpointTable WithTim(TimRulebook tim)
    {
        ArgumentNullException.ThrowIfNull(tim);
        return new EndpointTable(Endpoints.Select(e => e.WithTim(tim)).ToList());
    }

    /// <summary>The endpoints that satisfy <paramref name="predicate"/>, e.g. one API of the spec.</summary>
    public EndpointTable Where(Func<EndpointDescriptor, bool> predicate) => new(Endpoints.Where(predicate).ToList());

    /// <summary>
    /// Applies operator configuration. A denial must name an existing (method, template) pair exactly, so a
    /// typo cannot silently leave an endpoint open; additions that duplicate a table row are ignored.
    /// </summary>
    public EndpointTable WithOperatorRules(IEnumerable<EndpointRule> additions, IEnumerable<EndpointRule> denials)
    {
        var result = new List<EndpointDescriptor>(Endpoints);
        foreach (var denial in denials)
        {
            var removed = result.RemoveAll(e =>
                e.Template.Text == denial.Template.Text
                && (denial.Methods.Count == 0 || denial.Methods.Contains(e.Method)));
            if (removed == 0)
            {
                throw new ArgumentException($"denied endpoint '{denial.Text}' matches no endpoint of the table");
            }
        }

        foreach (var addition in additions)
        {
            if (addition.Methods.Count == 0)
            {
                throw new ArgumentException($"extra endpoint '{addition.Text}' must name its methods");
            }

            foreach (var method in addition.Methods)
            {
                if (!result.Any(e => e.Method == method && e.Template.Text == addition.Template.Text))
                {
                    result.Add(new EndpointDescriptor(method, addition.Template, MatrixApi.Operator, AuthRequirement.None, RequestBodyKind.Json, deprecated: false, queryParameters: []));
                }
            }
        }

        return new EndpointTable(result);
    }
}
