namespace MessengerProxy.Policy.Endpoints;

/// <summary>Which part of the Matrix spec an endpoint belongs to.</summary>
internal enum MatrixApi
{
    ClientServer,
    ServerServer,

    /// <summary>Added by the operator in configuration, not part of the spec table.</summary>
    Operator,
}

/// <summary>Whether the spec requires the caller to authenticate (access token or X-Matrix signature).</summary>
internal enum AuthRequirement
{
    None,
    Optional,
    Required,
}

/// <summary>What kind of request body the spec describes; it decides which size limit applies.</summary>
internal enum RequestBodyKind
{
    None,
    Json,
    Binary,
}

/// <summary>Coarse grouping used for metrics labels and log fields.</summary>
internal enum EndpointFamily
{
    Client,
    Media,
    Federation,
    Keys,
    WellKnown,
    Extra,
}

/// <summary>One allowed (method, path template) pair.</summary>
internal sealed class EndpointDescriptor
{
    internal EndpointDescriptor(string method, PathTemplate template, MatrixApi api, AuthRequirement auth, RequestBodyKind body, bool deprecated, IReadOnlyList<string> queryParameters, TimRulebook? tim = null)
    {
        Method = method;
        Template = template;
        Api = api;
        Auth = auth;
        Body = body;
        Deprecated = deprecated;
        QueryParameters = queryParameters;
        Family = FamilyOf(template.Text, api);
        Traits = EndpointTraits.For(this, tim ?? TimRulebook.Off);
    }

    public string Method { get; }

    public PathTemplate Template { get; }

    public MatrixApi Api { get; }

    public AuthRequirement Auth { get; }

    public RequestBodyKind Body { get; }

    public bool Deprecated { get; }

    public EndpointFamily Family { get; }

    /// <summary>The names of the query parameters the spec defines for the operation.</summary>
    public IReadOnlyList<string> QueryParameters { get; }

    /// <summary>What the proxy's stages do with this endpoint, decided once when the table is built.</summary>
    public EndpointTraits Traits { get; }

    public override string ToString() => $"{Method} {Template.Text}";

    /// <summary>The same endpoint with traits that include <paramref name="tim"/>'s rules.</summary>
    internal EndpointDescriptor WithTim(TimRulebook tim) => new(Method, Template, Api, Auth, Body, Deprecated, QueryParameters, tim);

    private static EndpointFamily FamilyOf(string template, MatrixApi api)
    {
        if (api == MatrixApi.Operator)
        {
            return EndpointFamily.Extra;
        }

        if (template.StartsWith("/.well-known/", StringComparison.Ordinal))
        {
            return EndpointFamily.WellKnown;
        }

        if (template.StartsWith("/_matrix/media/", StringComparison.Ordinal)
            || template.StartsWith("/_matrix/client/v1/media/", StringComparison.Ordinal))
        {
            return EndpointFamily.Media;
        }

        if (template.StartsWith("/_matrix/federation/", StringComparison.Ordinal))
        {
            return EndpointFamily.Federation;
        }

        if (template.StartsWith("/_matrix/key/", StringComparison.Ordinal))
        {
            return EndpointFamily.Keys;
        }

        return EndpointFamily.Client;
    }
}
