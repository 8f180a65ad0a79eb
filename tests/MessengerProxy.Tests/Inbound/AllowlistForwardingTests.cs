using System.Security.Cryptography;
using System.Text;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// Every endpoint of the v1.11 table, with awkward but legal parameters, reaches the homeserver untouched,
/// with every policy on (federation list enforced, X-Matrix from a listed origin where the spec asks for it).
/// </summary>
public sealed class AllowlistForwardingTests : IClassFixture<ProxyFixture.Federated>
{
    private const string XMatrix = "Authorization: X-Matrix origin=\"ex.org:8448\",destination=\"matrix.example.org\",key=\"ed25519:a1\",sig=\"c2lnbmF0dXJl\"\r\n";

    // Answered by the proxy itself; covered in WellKnownTests.
    private static readonly string[] s_answeredLocally = ["/.well-known/matrix/server", "/.well-known/matrix/support"];

    private readonly ProxyFixture _fixture;

    public AllowlistForwardingTests(ProxyFixture.Federated fixture) => _fixture = fixture;

    public static TheoryData<string, string, bool> Endpoints()
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var endpoint in EndpointTable.LoadMatrixV111().Endpoints.Where(e => !s_answeredLocally.Contains(e.Template.Text)))
        {
            data.Add(endpoint.Method, endpoint.Template.Text, false);
            data.Add(endpoint.Method, endpoint.Template.Text, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task Endpoint_WithAwkwardParameters_IsForwardedByteForByte(string method, string template, bool percentEncoded)
    {
        var endpoint = EndpointTable.LoadMatrixV111().Endpoints.Single(e => e.Method == method && e.Template.Text == template);
        var target = Instantiate(template, percentEncoded) + "?b=2&a=1&a=0&filter=%7B%22x%22%3A1%7D&e=%2f";
        var body = endpoint.Body switch
        {
            RequestBodyKind.Json => """{"k":"v","ü":[1,2]}""",
            RequestBodyKind.Binary => "\u0001binary\u00ff payload",
            _ => string.Empty,
        };
        var auth = endpoint.Auth != AuthRequirement.Required ? string.Empty
            : endpoint.Api == MatrixApi.ServerServer ? XMatrix
            : "Authorization: Bearer syt_token\r\n";

        var (id, response) = await _fixture.SendAsync(method, target, auth + "X-Custom: kept\r\n", body);

        Assert.Equal(200, response.StatusCode);
        var seen = _fixture.Upstream.Single(id);
        Assert.Equal(method, seen.Method);
        Assert.Equal(target, seen.RawTarget);
        Assert.Equal("matrix.example.org", seen.Header("Host"));
        Assert.Equal("kept", seen.Header("X-Custom"));
        Assert.Equal(Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(body))), seen.BodySha256);
        if (endpoint.Auth == AuthRequirement.Required)
        {
            Assert.Equal(auth["Authorization: ".Length..^2], seen.Header("Authorization"));
        }
    }

    /// <summary>Fills each parameter with a value of the kind its name suggests, raw or percent-encoded.</summary>
    internal static string Instantiate(string template, bool percentEncoded)
    {
        var segments = template.Split('/').Select(segment =>
        {
            if (!(segment.StartsWith('{') && segment.EndsWith('}')))
            {
                return segment;
            }

            return segment[1..^1] switch
            {
                "roomId" => percentEncoded ? "%21room%3Aex.org" : "!room:ex.org",
                "userId" => percentEncoded ? "%40user%3Aex.org" : "@user:ex.org",
                "eventId" => percentEncoded ? "%24event%2Fwith%2Fslash" : "$event%2Fwith%2Fslash",
                "roomAlias" or "roomIdOrAlias" => "%23alias%3Aex.org",
                "serverName" => percentEncoded ? "ex.org%3A8448" : "ex.org:8448",
                "fileName" => "caf%C3%A9%20menu.png",
                "stateKey" => percentEncoded ? "%40user%3Aex.org" : "@user:ex.org",
                _ => percentEncoded ? "v%c3%bc%2f%40%3a%25x" : "v%C3%BC%2F@:%25x",
            };
        });
        return string.Join('/', segments);
    }
}
