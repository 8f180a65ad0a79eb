namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// What a request is reported as to the rawdata-master ("Rohdaten"): one row of <c>Endpoints/raw-data-operations.tsv</c>
/// for one direction. Requests that invite someone are reported by where the invitees are.
/// </summary>
internal sealed class RawDataReport
{
    internal RawDataReport(string operation, string? inviteeInside, string? inviteeOutside)
    {
        Operation = operation;
        InviteeInside = inviteeInside;
        InviteeOutside = inviteeOutside;
    }

    /// <summary>The rawdata-master's operation name (its <c>RawDataOperation</c> enum), e.g. <c>MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN</c>.</summary>
    public string Operation { get; }

    /// <summary>The operation when every invitee is on the organisation's own server; null when invitees do not matter.</summary>
    public string? InviteeInside { get; }

    /// <summary>The operation when any invitee is on another server; null when invitees do not matter.</summary>
    public string? InviteeOutside { get; }

    /// <summary>The operation depends on the invitees the body names (client invite, createRoom).</summary>
    public bool DependsOnInvitees => InviteeInside is not null;

    public override string ToString() => DependsOnInvitees ? $"{Operation} (inside {InviteeInside}, outside {InviteeOutside})" : Operation;
}

/// <summary>
/// The committed raw-data operation table (<c>Endpoints/raw-data-operations.tsv</c>), read once and put into every
/// endpoint's traits when the table is built, so the pipeline never compares templates to learn what to report.
/// </summary>
internal sealed class RawDataOperationTable
{
    internal const string ResourceName = "MessengerProxy.Policy.raw-data-operations.tsv";

    /// <summary>
    /// The operation names the rawdata-master accepts (its <c>RawDataOperation</c> enum, tim-ref/messenger-rawdata-master
    /// 0.3.15, minus the registration service's <c>RS_*</c> and <c>UNKNOWN</c>): a name outside them would be refused there.
    /// </summary>
    internal static readonly IReadOnlySet<string> KnownOperations = new HashSet<string>(StringComparer.Ordinal)
    {
        "MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES",
        "MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN",
        "MP_CLIENT_LOGIN_REQUEST_OPENID_TOKEN",
        "MP_INVITE_WITHIN_ORGANISATION_SEARCH",
        "MP_INVITE_WITHIN_ORGANISATION_INVITE",
        "MP_EXCHANGE_EVENT_WITHIN_ORGANISATION",
        "MP_INVITE_OUTSIDE_ORGANISATION_ADD_TO_CONTACT_MANAGEMENT_LIST",
        "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER",
        "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_RECEIVER",
        "MP_EXCHANGE_EVENT_OUTSIDE_ORGANISATION_SENDER",
        "MP_EXCHANGE_EVENT_OUTSIDE_ORGANISATION_RECEIVER",
    };

    private static readonly string[] s_header = ["direction", "method", "path", "operation", "invitee-inside", "invitee-outside"];

    private readonly Dictionary<(string Method, string Template), RawDataReport> _inbound;
    private readonly Dictionary<(string Method, string Template), RawDataReport> _outbound;

    private RawDataOperationTable(Dictionary<(string, string), RawDataReport> inbound, Dictionary<(string, string), RawDataReport> outbound)
    {
        _inbound = inbound;
        _outbound = outbound;
    }

    /// <summary>The committed table; immutable once read.</summary>
    public static RawDataOperationTable Committed { get; } = Load();

    /// <summary>Every (direction, method, template) of the table, for tests that check them against the endpoint table.</summary>
    internal IEnumerable<(bool Inbound, string Method, string Template)> Rows =>
        _inbound.Keys.Select(k => (true, k.Method, k.Template)).Concat(_outbound.Keys.Select(k => (false, k.Method, k.Template)));

    /// <summary>What the inbound proxy reports for requests of <paramref name="endpoint"/>; null for none.</summary>
    internal RawDataReport? InboundFor(EndpointDescriptor endpoint) => _inbound.GetValueOrDefault((endpoint.Method, endpoint.Template.Text));

    /// <summary>What the outbound proxy reports for requests of <paramref name="endpoint"/>; null for none.</summary>
    internal RawDataReport? OutboundFor(EndpointDescriptor endpoint) => _outbound.GetValueOrDefault((endpoint.Method, endpoint.Template.Text));

    private static RawDataOperationTable Load()
    {
        using var stream = typeof(RawDataOperationTable).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"embedded resource {ResourceName} is missing");
        using var reader = new StreamReader(stream);
        return Parse(reader);
    }

    public static RawDataOperationTable Parse(TextReader reader)
    {
        var inbound = new Dictionary<(string, string), RawDataReport>();
        var outbound = new Dictionary<(string, string), RawDataReport>();
        foreach (var (lineNumber, cols) in TsvRows.Read(reader, s_header, "raw-data operation table"))
        {
            var (direction, method, path, operation, inside, outside) = (cols[0], cols[1], cols[2], cols[3], cols[4], cols[5]);
            var rows = direction switch
            {
                "inbound" => inbound,
                "outbound" => outbound,
                _ => throw new FormatException($"line {lineNumber}: unknown direction '{direction}'"),
            };

            if ((inside == "-") != (outside == "-"))
            {
                throw new FormatException($"line {lineNumber}: invitee-inside and invitee-outside are both operations or both '-'");
            }

            foreach (var name in inside == "-" ? [operation] : new[] { operation, inside, outside })
            {
                if (!KnownOperations.Contains(name))
                {
                    throw new FormatException($"line {lineNumber}: '{name}' is not an operation of the rawdata-master");
                }
            }

            var template = PathTemplate.Parse(path);
            if (!rows.TryAdd((method, template.Text), new RawDataReport(operation, inside == "-" ? null : inside, outside == "-" ? null : outside)))
            {
                throw new FormatException($"line {lineNumber}: {direction} {method} {path} is repeated");
            }
        }

        return new RawDataOperationTable(inbound, outbound);
    }
}
