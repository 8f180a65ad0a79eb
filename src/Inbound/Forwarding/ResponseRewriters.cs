using System.Text.Json;
using System.Text.Json.Nodes;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Versions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Forwarding;

/// <summary>Rewrites a small JSON response body of the homeserver; throws <see cref="FormatException"/> when it cannot.</summary>
internal interface IResponseRewriter
{
    byte[] Rewrite(ReadOnlyMemory<byte> body);
}

/// <summary>Keeps <c>/_matrix/client/versions</c> at or below Matrix v1.11.</summary>
internal sealed class VersionsRewriter : IResponseRewriter
{
    private readonly HashSet<string> _allowedUnstable;
    private readonly IVersionsAdvertisement[] _advertisements;

    public VersionsRewriter(IOptions<InboundOptions> options, IEnumerable<IVersionsAdvertisement> advertisements)
    {
        _allowedUnstable = new HashSet<string>(options.Value.AllowedUnstableFeatures, StringComparer.Ordinal);
        _advertisements = advertisements.ToArray();
    }

    // Asked on every request: what a front door announces (its port) is only known once it listens.
    public byte[] Rewrite(ReadOnlyMemory<byte> body) =>
        VersionsDocument.Filter(body, MatrixSpecVersion.V1_11, _allowedUnstable, _advertisements.SelectMany(a => a.Members).ToList());
}

/// <summary>Points <c>m.homeserver.base_url</c> of <c>/.well-known/matrix/client</c> at the proxy's public URL.</summary>
internal sealed class WellKnownClientRewriter : IResponseRewriter
{
    private readonly string _baseUrl;

    public WellKnownClientRewriter(string baseUrl) => _baseUrl = baseUrl;

    public byte[] Rewrite(ReadOnlyMemory<byte> body)
    {
        JsonObject document;
        try
        {
            document = JsonNode.Parse(body.Span, documentOptions: new JsonDocumentOptions { MaxDepth = 16 }) as JsonObject
                ?? throw new FormatException("the homeserver's /.well-known/matrix/client is not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new FormatException("the homeserver's /.well-known/matrix/client is not valid JSON", ex);
        }

        if (document["m.homeserver"] is not JsonObject homeserver)
        {
            homeserver = new JsonObject();
            document["m.homeserver"] = homeserver;
        }

        homeserver["base_url"] = _baseUrl;
        using var output = new MemoryStream(body.Length + _baseUrl.Length);
        using (var writer = new Utf8JsonWriter(output))
        {
            document.WriteTo(writer);
        }

        return output.ToArray();
    }
}
