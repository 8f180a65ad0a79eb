using System.Security.Cryptography;
using System.Text;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Inbound;

/// <summary>
/// Every endpoint of the v1.11 table, with awkward but legal parameters, reaches the homeserver untouched,
/// with every policy on (federation list enforced, X-Matrix from a listed origin where the spec asks for it). The
/// endpoints whose requests the TIM rulebook answers itself or changes on purpose (its overrides, createRoom's
/// room version, the redaction window's look-up, federation invites and their permission check) are checked with the
/// rulebook off; TimRulesTests and InvitePermissionTests cover them on.
/// </summary>
public sealed class AllowlistForwardingTests : IClassFixture<ProxyFixture.Federated>, IClassFixture<AllowlistForwardingTests.FederatedWithoutTim>
{
    private const string XMatrix = "Authorization: X-Matrix origin=\"ex.org:8448\",destination=\"matrix.example.org\",key=\"ed25519:a1\",sig=\"c2lnbmF0dXJl\"\r\n";

    // Answered by the proxy itself; covered in WellKnownTests.
    private static readonly string[] s_answeredLocally = ["/.well-known/matrix/server", "/.well-known/matrix/support"];

    private static readonly Dictionary<string, EndpointDescriptor> s_underTim = EndpointTable.LoadMatrixV111()
        .WithTim(new TimRulebook(TimOverrideTable.Load(), TimRules.All)).Endpoints.ToDictionary(e => e.ToString());

    private readonly ProxyFixture _fixture;
    private readonly ProxyFixture _withoutTim;

    public AllowlistForwardingTests(ProxyFixture.Federated fixture, FederatedWithoutTim withoutTim)
    {
        _fixture = fixture;
        _withoutTim = withoutTim;
    }

    public static TheoryData<string, string, bool> Endpoints() => EndpointsWhere(changedByTim: false);

    public static TheoryData<string, string, bool> EndpointsTheRulebookChanges() => EndpointsWhere(changedByTim: true);

    [Theory]
    [MemberData(nameof(Endpoints))]
    public Task Endpoint_WithAwkwardParameters_IsForwardedByteForByte(string method, string template, bool percentEncoded) =>
        AssertForwardedByteForByteAsync(_fixture, method, template, percentEncoded);

    [Theory]
    [MemberData(nameof(EndpointsTheRulebookChanges))]
    public Task EndpointTheTimRulebookChanges_WithTheRulebookOff_IsForwardedByteForByte(string method, string template, bool percentEncoded) =>
        AssertForwardedByteForByteAsync(_withoutTim, method, template, percentEncoded);

    private static TheoryData<string, string, bool> EndpointsWhere(bool changedByTim)
    {
        var data = new TheoryData<string, string, bool>();
        foreach (var endpoint in EndpointTable.LoadMatrixV111().Endpoints.Where(e => !s_answeredLocally.Contains(e.Template.Text)))
        {
            var traits = s_underTim[endpoint.ToString()].Traits;
            if ((traits.Override is not null || traits.TimContent is TimContent.CreateRoom or TimContent.Redaction
                || traits.TimInvite is TimInvitePoint.FederationV1 or TimInvitePoint.FederationV2) == changedByTim)
            {
                data.Add(endpoint.Method, endpoint.Template.Text, false);
                data.Add(endpoint.Method, endpoint.Template.Text, true);
            }
        }

        return data;
    }

    private static async Task AssertForwardedByteForByteAsync(ProxyFixture fixture, string method, string template, bool percentEncoded)
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

        var (id, response) = await fixture.SendAsync(method, target, auth + "X-Custom: kept\r\n", body);

        Assert.Equal(200, response.StatusCode);
        var seen = fixture.Upstream.Single(id);
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

    /// <summary>The federated proxy of <see cref="ProxyFixture.Federated"/>, with the TIM rulebook off.</summary>
    public sealed class FederatedWithoutTim : ProxyFixture
    {
        public FakeRegistrationService Registration { get; private set; } = null!;

        protected override string[] Settings =>
        [
            $"Federation:RegistrationServiceUrl={Registration.Url}",
            $"Federation:ServerName={Federated.OwnServerName}",
            "Tim:Enabled=false",
        ];

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            await Registration.DisposeAsync();
        }

        protected override async Task PrepareAsync() => Registration = await FakeRegistrationService.StartAsync("ex.org", "example.org");
    }
}
