namespace MessengerProxy.Policy.Endpoints;

/// <summary>What kind of Matrix identifier a request value is, and so how its server name is found.</summary>
internal enum ServerReferenceKind
{
    /// <summary><c>@local:server</c>.</summary>
    UserId,

    /// <summary><c>#alias:server</c>.</summary>
    RoomAlias,

    /// <summary>A room alias (whose server is checked) or a room ID (whose server is not: see the README).</summary>
    RoomIdOrAlias,

    /// <summary>A bare server name.</summary>
    ServerName,
}

/// <summary>A path or query parameter whose value names another server (e.g. <c>{userId}</c>, <c>?server_name=</c>).</summary>
internal sealed record ServerParameter(string Name, ServerReferenceKind Kind, bool InQuery);

/// <summary>Where in a request body user IDs of other servers are named.</summary>
internal enum BodyServerReferences
{
    None,

    /// <summary><c>POST /rooms/{roomId}/invite</c>: <c>user_id</c>.</summary>
    Invite,

    /// <summary><c>POST /createRoom</c>: <c>invite[]</c> and the invites among <c>initial_state</c>'s member events.</summary>
    CreateRoom,

    /// <summary><c>PUT /rooms/{roomId}/state/{eventType}/{stateKey}</c>: an <c>m.room.member</c> invite names its <c>{stateKey}</c>.</summary>
    StateEvent,

    /// <summary><c>POST /keys/query</c>: the keys of <c>device_keys</c>.</summary>
    KeysQuery,

    /// <summary><c>POST /keys/claim</c>: the keys of <c>one_time_keys</c>.</summary>
    KeysClaim,

    /// <summary><c>PUT /sendToDevice/{eventType}/{txnId}</c>: the keys of <c>messages</c>.</summary>
    SendToDevice,
}

/// <summary>Where an answer tells the client which base URL to use (a front door that advertises its own URL rewrites it).</summary>
internal enum BaseUrlAnswer
{
    None,

    /// <summary><c>GET /.well-known/matrix/client</c>: <c>m.homeserver.base_url</c>.</summary>
    WellKnownClient,

    /// <summary><c>POST /login</c>: <c>well_known.m.homeserver.base_url</c>.</summary>
    Login,
}

/// <summary>Which answer of the homeserver the inbound proxy rewrites before the client sees it.</summary>
internal enum ResponseRewrite
{
    None,

    /// <summary><c>GET /_matrix/client/versions</c>: versions and unstable features filtered.</summary>
    Versions,

    /// <summary><c>GET /.well-known/matrix/client</c> (forward mode): <c>m.homeserver.base_url</c> set.</summary>
    WellKnownClient,
}

/// <summary>Which <c>/.well-known/matrix/*</c> document an endpoint is; the inbound proxy answers some itself.</summary>
internal enum WellKnownDocument
{
    None,
    Server,
    Client,
    Support,
}

/// <summary>
/// Per-endpoint behaviour of the proxy's stages, computed once from the table row so that no stage compares
/// path templates at request time.
/// </summary>
internal sealed class EndpointTraits
{
    // Path parameter names of the client-server API whose values name a server. Room IDs are left out on
    // purpose: a room's ID names the server that created it, not a server the request will contact.
    private static readonly Dictionary<string, ServerReferenceKind> s_pathServerParameters = new(StringComparer.Ordinal)
    {
        ["userId"] = ServerReferenceKind.UserId,
        ["roomAlias"] = ServerReferenceKind.RoomAlias,
        ["roomIdOrAlias"] = ServerReferenceKind.RoomIdOrAlias,
        ["serverName"] = ServerReferenceKind.ServerName,
    };

    // Query parameters of the client-server API that name servers to contact.
    private static readonly Dictionary<string, ServerReferenceKind> s_queryServerParameters = new(StringComparer.Ordinal)
    {
        ["server_name"] = ServerReferenceKind.ServerName,
        ["server"] = ServerReferenceKind.ServerName,
    };

    // "via" replaced "server_name" in v1.12 (MSC4156); homeservers read both already, so it is checked wherever
    // "server_name" is defined, or it would be a way around the check.
    private const string ServerNameSuccessor = "via";

    private static readonly Dictionary<(string Method, string Template), BodyServerReferences> s_bodyServerReferences = new()
    {
        [("POST", "/_matrix/client/v3/rooms/{roomId}/invite")] = BodyServerReferences.Invite,
        [("POST", "/_matrix/client/v3/createRoom")] = BodyServerReferences.CreateRoom,
        [("PUT", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}")] = BodyServerReferences.StateEvent,
        [("POST", "/_matrix/client/v3/keys/query")] = BodyServerReferences.KeysQuery,
        [("POST", "/_matrix/client/v3/keys/claim")] = BodyServerReferences.KeysClaim,
        [("PUT", "/_matrix/client/v3/sendToDevice/{eventType}/{txnId}")] = BodyServerReferences.SendToDevice,
    };

    // Bodies of PDUs and EDUs whose every server name must be federated (Federation:CheckTransactionDomains).
    private static readonly HashSet<(string Method, string Template)> s_transactions =
    [
        ("PUT", "/_matrix/federation/v1/send/{txnId}"),
    ];

    // Answers that name a base URL, and the one stream a CoAP client may observe (MSC3079): front-door traits.
    private static readonly Dictionary<(string Method, string Template), BaseUrlAnswer> s_baseUrlAnswers = new()
    {
        [("GET", "/.well-known/matrix/client")] = BaseUrlAnswer.WellKnownClient,
        [("POST", "/_matrix/client/v3/login")] = BaseUrlAnswer.Login,
    };

    private static readonly (string Method, string Template) s_syncObservable = ("GET", "/_matrix/client/v3/sync");

    private const string VersionsTemplate = "/_matrix/client/versions";
    private const string WellKnownServerTemplate = "/.well-known/matrix/server";
    private const string WellKnownClientTemplate = "/.well-known/matrix/client";
    private const string WellKnownSupportTemplate = "/.well-known/matrix/support";

    // Synapse falls back to these for peers without authenticated media; the spec keeps them (deprecated).
    private static readonly string[] s_legacyMediaPrefixes = ["/_matrix/media/v3/download/", "/_matrix/media/v3/thumbnail/"];

    private EndpointTraits(
        IReadOnlyList<ServerParameter> serverParameters,
        BodyServerReferences bodyServers,
        bool bufferBody,
        bool requiresAccessToken,
        bool requiresXMatrix,
        TimOverride? timOverride,
        TimContent timContent,
        ListenerApis servedOn,
        TimInvitePoint timInvite = TimInvitePoint.None,
        TimAccountHook timAccount = TimAccountHook.None)
    {
        TimInvite = timInvite;
        TimAccount = timAccount;
        ServerParameters = serverParameters;
        BodyServers = bodyServers;
        BufferBody = bufferBody;
        ServedOn = servedOn;
        RequiresAccessToken = requiresAccessToken;
        RequiresXMatrix = requiresXMatrix;
        Override = timOverride;
        TimContent = timContent;
    }

    /// <summary>Which kinds of listener answer this endpoint; a listener serving none of them treats it as unknown.</summary>
    public ListenerApis ServedOn { get; }

    /// <summary>Path and query parameters whose server must be federated.</summary>
    public IReadOnlyList<ServerParameter> ServerParameters { get; }

    /// <summary>Where the body names servers that must be federated.</summary>
    public BodyServerReferences BodyServers { get; }

    /// <summary>
    /// The body is read whole (bounded) and checked before the request leaves for the homeserver, so a broken
    /// or oversized body never opens an upstream request. Only media uploads are streamed.
    /// </summary>
    public bool BufferBody { get; }

    /// <summary>A client-server endpoint the spec authenticates, or one a TIM override requires a token for.</summary>
    public bool RequiresAccessToken { get; }

    /// <summary>A server-server endpoint the spec authenticates, or one a TIM override requires X-Matrix for.</summary>
    public bool RequiresXMatrix { get; }

    /// <summary>The TIM override row in force for the endpoint, if any.</summary>
    public TimOverride? Override { get; }

    /// <summary>Which TIM content stage looks at the endpoint's requests (<see cref="TimContent.None"/>: none does).</summary>
    public TimContent TimContent { get; }

    /// <summary>Where the answer names the base URL clients should use.</summary>
    public BaseUrlAnswer BaseUrlAnswer { get; private init; }

    /// <summary>The sync stream: a CoAP GET with Observe registers for pushed updates instead of long-polling (MSC3079).</summary>
    public bool SyncObservable { get; private init; }

    // The traits below are read by the forwarding stages of both proxies.

    /// <summary>
    /// A federation transaction (<c>PUT /_matrix/federation/v1/send/{txnId}</c>): both proxies read its body and refuse it
    /// whole when a PDU or EDU names a server outside the federation.
    /// </summary>
    public bool FederationTransaction { get; private init; }

    /// <summary>The homeserver's answer the inbound proxy rewrites (<see cref="ResponseRewrite.None"/>: relayed as is).</summary>
    public ResponseRewrite ResponseRewrite { get; private init; }

    /// <summary>The well-known document the endpoint serves.</summary>
    public WellKnownDocument WellKnown { get; private init; }

    /// <summary>Outbound: the answer may delegate the server to another host (<c>/.well-known/matrix/server</c>), which is learned.</summary>
    public bool LearnsDelegation { get; private init; }

    /// <summary>
    /// A pre-v1.11 unauthenticated media download or thumbnail (<c>GET /_matrix/media/v3/…/{serverName}/…</c>), whose
    /// <c>{serverName}</c> is the media's origin: outbound, only the server that holds it may be asked for it.
    /// </summary>
    public bool LegacyMedia { get; private init; }

    /// <summary>Where the endpoint invites a user whose permission configuration decides (<see cref="TimInvitePoint.None"/>: nowhere).</summary>
    public TimInvitePoint TimInvite { get; }

    /// <summary>What the endpoint means for the invite check's caches and the default permission configuration.</summary>
    public TimAccountHook TimAccount { get; }

    /// <summary>What the inbound proxy reports to the rawdata-master for the endpoint's requests (null: nothing).</summary>
    public RawDataReport? InboundRawData { get; private init; }

    /// <summary>What the outbound proxy reports to the rawdata-master for the endpoint's requests (null: nothing).</summary>
    public RawDataReport? OutboundRawData { get; private init; }

    internal static EndpointTraits For(EndpointDescriptor endpoint, TimRulebook tim)
    {
        var serverParameters = new List<ServerParameter>();
        var bodyServers = BodyServerReferences.None;
        if (endpoint.Api == MatrixApi.ClientServer)
        {
            foreach (var segment in endpoint.Template.Segments)
            {
                if (segment.Kind == TemplateSegmentKind.Parameter && s_pathServerParameters.TryGetValue(segment.Text, out var kind))
                {
                    serverParameters.Add(new ServerParameter(segment.Text, kind, InQuery: false));
                }
            }

            foreach (var name in endpoint.QueryParameters)
            {
                if (s_queryServerParameters.TryGetValue(name, out var kind))
                {
                    serverParameters.Add(new ServerParameter(name, kind, InQuery: true));
                    if (name == "server_name")
                    {
                        serverParameters.Add(new ServerParameter(ServerNameSuccessor, kind, InQuery: true));
                    }
                }
            }

            bodyServers = s_bodyServerReferences.GetValueOrDefault((endpoint.Method, endpoint.Template.Text));
        }

        var timOverride = tim.OverrideFor(endpoint);
        return new EndpointTraits(
            serverParameters,
            bodyServers,
            bufferBody: endpoint.Body != RequestBodyKind.Binary,
            requiresAccessToken: (endpoint.Api == MatrixApi.ClientServer && endpoint.Auth == AuthRequirement.Required) || timOverride?.Kind == TimOverrideKind.AccessToken,
            requiresXMatrix: (endpoint.Api == MatrixApi.ServerServer && endpoint.Auth == AuthRequirement.Required) || timOverride?.Kind == TimOverrideKind.XMatrix,
            timOverride,
            tim.ContentFor(endpoint),
            ServedOnOf(endpoint),
            tim.InviteFor(endpoint),
            tim.AccountHookFor(endpoint))
        {
            BaseUrlAnswer = endpoint.Api == MatrixApi.ClientServer ? s_baseUrlAnswers.GetValueOrDefault((endpoint.Method, endpoint.Template.Text)) : BaseUrlAnswer.None,
            SyncObservable = endpoint.Api == MatrixApi.ClientServer && (endpoint.Method, endpoint.Template.Text) == s_syncObservable,

            ResponseRewrite = endpoint.Template.Text switch
            {
                VersionsTemplate => ResponseRewrite.Versions,
                WellKnownClientTemplate => ResponseRewrite.WellKnownClient,
                _ => ResponseRewrite.None,
            },
            WellKnown = endpoint.Template.Text switch
            {
                WellKnownServerTemplate => WellKnownDocument.Server,
                WellKnownClientTemplate => WellKnownDocument.Client,
                WellKnownSupportTemplate => WellKnownDocument.Support,
                _ => WellKnownDocument.None,
            },
            LearnsDelegation = endpoint.Template.Text == WellKnownServerTemplate,
            FederationTransaction = endpoint.Api == MatrixApi.ServerServer && s_transactions.Contains((endpoint.Method, endpoint.Template.Text)),
            LegacyMedia = endpoint.Method == "GET" && s_legacyMediaPrefixes.Any(p => endpoint.Template.Text.StartsWith(p, StringComparison.Ordinal)),
            InboundRawData = endpoint.Api == MatrixApi.Operator ? null : RawDataOperationTable.Committed.InboundFor(endpoint),
            OutboundRawData = endpoint.Api == MatrixApi.Operator ? null : RawDataOperationTable.Committed.OutboundFor(endpoint),
        };
    }

    private static ListenerApis ServedOnOf(EndpointDescriptor endpoint) => endpoint.Api switch
    {
        // Other servers fetch /.well-known/matrix/server from https://<server name>/, port 443, which is
        // usually the client port, not the federation port it points them to; so both kinds answer it.
        MatrixApi.ServerServer when endpoint.Family == EndpointFamily.WellKnown => ListenerApis.All,
        MatrixApi.ServerServer => ListenerApis.Federation,
        MatrixApi.ClientServer => ListenerApis.Client,

        // Operator additions have no API column: they belong where their namespace does.
        _ => endpoint.Template.Text.StartsWith("/_matrix/federation/", StringComparison.Ordinal)
            || endpoint.Template.Text.StartsWith("/_matrix/key/", StringComparison.Ordinal)
            ? ListenerApis.Federation
            : ListenerApis.Client,
    };
}
