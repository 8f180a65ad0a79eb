namespace MessengerProxy.Policy.Endpoints;

internal enum EndpointMatchStatus
{
    Matched,

    /// <summary>An OPTIONS (CORS preflight) request for a path that exists with some method.</summary>
    Preflight,

    /// <summary>The path exists, but not with this method.</summary>
    MethodNotAllowed,

    NotFound,
}

internal readonly struct EndpointMatch
{
    internal EndpointMatch(EndpointMatchStatus status, EndpointDescriptor? endpoint, string? allow)
    {
        Status = status;
        Endpoint = endpoint;
        Allow = allow;
    }

    public EndpointMatchStatus Status { get; }

    /// <summary>The matched endpoint; for <see cref="EndpointMatchStatus.Preflight"/> one endpoint of the path.</summary>
    public EndpointDescriptor? Endpoint { get; }

    /// <summary>Value for the <c>Allow</c> header when the method is not allowed.</summary>
    public string? Allow { get; }
}

/// <summary>
/// Matches a raw request path against the endpoint templates, segment by segment, with a trie. Literal
/// segments win over parameters, parameters over catch-alls. HEAD is accepted wherever GET is.
/// </summary>
internal sealed class EndpointMatcher
{
    private static readonly string[] s_methodOrder = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"];

    private readonly Node _root = new();

    public EndpointMatcher(EndpointTable table)
    {
        ArgumentNullException.ThrowIfNull(table);
        foreach (var endpoint in table.Endpoints)
        {
            var node = _root;
            foreach (var segment in endpoint.Template.Segments)
            {
                node = segment.Kind switch
                {
                    TemplateSegmentKind.Literal => node.GetOrAddLiteral(segment.Text),
                    TemplateSegmentKind.Parameter => node.Parameter ??= new Node(),
                    _ => node.CatchAll ??= new Node(),
                };
            }

            node.Methods ??= new Dictionary<string, EndpointDescriptor>(StringComparer.Ordinal);
            node.Methods.TryAdd(endpoint.Method, endpoint);
        }

        _root.Seal();
    }

    public EndpointMatch Match(string method, ReadOnlySpan<char> rawPath)
    {
        if (rawPath.IsEmpty || rawPath[0] != '/')
        {
            return new EndpointMatch(EndpointMatchStatus.NotFound, null, null);
        }

        var rest = rawPath[1..];
        var lookup = method == "HEAD" ? "GET" : method;
        if (lookup != "OPTIONS" && Find(_root, rest, lookup) is { } endpoint)
        {
            return new EndpointMatch(EndpointMatchStatus.Matched, endpoint, null);
        }

        // Slow path, taken only for refusals and preflights: gather every node the path reaches.
        var nodes = new List<Node>(2);
        Collect(_root, rest, nodes);
        if (nodes.Count == 0)
        {
            return new EndpointMatch(EndpointMatchStatus.NotFound, null, null);
        }

        var allow = AllowHeader(nodes);
        return lookup == "OPTIONS"
            ? new EndpointMatch(EndpointMatchStatus.Preflight, nodes[0].Methods!.Values.First(), allow)
            : new EndpointMatch(EndpointMatchStatus.MethodNotAllowed, null, allow);
    }

    private static EndpointDescriptor? Find(Node node, ReadOnlySpan<char> rest, string method)
    {
        var slash = rest.IndexOf('/');
        var segment = slash < 0 ? rest : rest[..slash];
        var remaining = slash < 0 ? default : rest[(slash + 1)..];

        if (node.LiteralLookup is { } literals && literals.TryGetValue(segment, out var literal))
        {
            var found = slash < 0 ? Terminal(literal, method) : Find(literal, remaining, method);
            if (found is not null)
            {
                return found;
            }
        }

        if (node.Parameter is { } parameter && IsParameterValue(segment))
        {
            var found = slash < 0 ? Terminal(parameter, method) : Find(parameter, remaining, method);
            if (found is not null)
            {
                return found;
            }
        }

        return node.CatchAll is { } catchAll && IsCatchAllValue(rest) ? Terminal(catchAll, method) : null;
    }

    private static void Collect(Node node, ReadOnlySpan<char> rest, List<Node> nodes)
    {
        var slash = rest.IndexOf('/');
        var segment = slash < 0 ? rest : rest[..slash];
        var remaining = slash < 0 ? default : rest[(slash + 1)..];

        if (node.LiteralLookup is { } literals && literals.TryGetValue(segment, out var literal))
        {
            CollectChild(literal, slash < 0, remaining, nodes);
        }

        if (node.Parameter is { } parameter && IsParameterValue(segment))
        {
            CollectChild(parameter, slash < 0, remaining, nodes);
        }

        if (node.CatchAll is { Methods: not null } catchAll && IsCatchAllValue(rest))
        {
            nodes.Add(catchAll);
        }
    }

    private static void CollectChild(Node child, bool last, ReadOnlySpan<char> remaining, List<Node> nodes)
    {
        if (!last)
        {
            Collect(child, remaining, nodes);
        }
        else if (child.Methods is not null)
        {
            nodes.Add(child);
        }
    }

    private static EndpointDescriptor? Terminal(Node node, string method) =>
        node.Methods is { } methods && methods.TryGetValue(method, out var endpoint) ? endpoint : null;

    private static bool IsParameterValue(ReadOnlySpan<char> segment) =>
        !segment.IsEmpty && !RequestTarget.IsDotSegment(segment);

    // One or more segments; only the very last may be empty (a trailing slash); no dot-segments.
    private static bool IsCatchAllValue(ReadOnlySpan<char> rest)
    {
        if (rest.IsEmpty)
        {
            return false;
        }

        while (true)
        {
            var slash = rest.IndexOf('/');
            var segment = slash < 0 ? rest : rest[..slash];
            if (RequestTarget.IsDotSegment(segment))
            {
                return false;
            }

            if (slash < 0)
            {
                return true;
            }

            if (segment.IsEmpty)
            {
                return false;
            }

            rest = rest[(slash + 1)..];
        }
    }

    private static string AllowHeader(List<Node> nodes)
    {
        var methods = new HashSet<string>(StringComparer.Ordinal) { "OPTIONS" };
        foreach (var node in nodes)
        {
            foreach (var method in node.Methods!.Keys)
            {
                methods.Add(method);
                if (method == "GET")
                {
                    methods.Add("HEAD");
                }
            }
        }

        return string.Join(", ", methods.OrderBy(m => Array.IndexOf(s_methodOrder, m)).ThenBy(m => m, StringComparer.Ordinal));
    }

    private sealed class Node
    {
        private Dictionary<string, Node>? _literals;

        public Dictionary<string, Node>.AlternateLookup<ReadOnlySpan<char>>? LiteralLookup { get; private set; }

        public Node? Parameter { get; set; }

        public Node? CatchAll { get; set; }

        public Dictionary<string, EndpointDescriptor>? Methods { get; set; }

        public Node GetOrAddLiteral(string literal)
        {
            _literals ??= new Dictionary<string, Node>(StringComparer.Ordinal);
            if (!_literals.TryGetValue(literal, out var child))
            {
                child = new Node();
                _literals.Add(literal, child);
            }

            return child;
        }

        public void Seal()
        {
            if (_literals is not null)
            {
                LiteralLookup = _literals.GetAlternateLookup<ReadOnlySpan<char>>();
                foreach (var child in _literals.Values)
                {
                    child.Seal();
                }
            }

            Parameter?.Seal();
            CatchAll?.Seal();
        }
    }
}
