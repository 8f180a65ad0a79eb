using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Tests.Policy;

public sealed class EndpointMatcherTests
{
    private static readonly EndpointMatcher s_spec = new(EndpointTable.LoadMatrixV111());

    [Theory]
    [InlineData("GET", "/_matrix/client/versions", "/_matrix/client/versions")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/%21r%3Aex.org/send/m.room.message/a%2Fb", "/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}")]
    [InlineData("GET", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name/", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/")]
    [InlineData("GET", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.member/@u:ex.org", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}")]
    [InlineData("GET", "/_matrix/client/v3/pushrules/", "/_matrix/client/v3/pushrules/")]
    [InlineData("GET", "/_matrix/federation/v1/query/directory", "/_matrix/federation/v1/query/directory")]
    [InlineData("GET", "/_matrix/federation/v1/query/other", "/_matrix/federation/v1/query/{queryType}")]
    [InlineData("GET", "/_matrix/key/v2/server", "/_matrix/key/v2/server")]
    [InlineData("GET", "/_matrix/media/v3/download/ex.org/abc/file.png", "/_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}")]
    [InlineData("GET", "/.well-known/matrix/server", "/.well-known/matrix/server")]
    [InlineData("HEAD", "/_matrix/client/versions", "/_matrix/client/versions")]
    public void Match_AllowedEndpoint_FindsTheSpecTemplate(string method, string path, string template)
    {
        var match = s_spec.Match(method, path);
        Assert.Equal(EndpointMatchStatus.Matched, match.Status);
        Assert.Equal(template, match.Endpoint!.Template.Text);
    }

    [Theory]
    [InlineData("/_matrix/client/v1/auth_metadata")]
    [InlineData("/_matrix/client/v3/sync/")]
    [InlineData("/_matrix/client/v3//sync")]
    [InlineData("//_matrix/client/v3/sync")]
    [InlineData("/_matrix/client/v3/sync;jsessionid=1")]
    [InlineData("/_MATRIX/client/v3/sync")]
    [InlineData("/_matrix%2Fclient/v3/sync")]
    [InlineData("/_matrix/client/%76%33/sync")]
    [InlineData("/_matrix/client/v3/../v3/sync")]
    [InlineData("/_matrix/client/v3/./sync")]
    [InlineData("/_matrix/client/v3/rooms/%2e%2e/joined_members")]
    [InlineData("/_matrix/client/v3/rooms/./joined_members")]
    [InlineData("/_matrix/client/v3/rooms//joined_members")]
    [InlineData("/_matrix/client/r0/sync")]
    [InlineData("/_matrix/client/unstable/org.matrix.msc3575/sync")]
    [InlineData("/_synapse/admin/v1/users")]
    [InlineData("/_matrix/key/v2/server/ed25519:abc")]
    [InlineData("/")]
    [InlineData("")]
    public void Match_PathOutsideTheTable_IsNotFound(string path)
    {
        Assert.Equal(EndpointMatchStatus.NotFound, s_spec.Match("GET", path).Status);
    }

    [Fact]
    public void Match_KnownPathWrongMethod_ListsAllowedMethods()
    {
        var match = s_spec.Match("DELETE", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name/");
        Assert.Equal(EndpointMatchStatus.MethodNotAllowed, match.Status);
        Assert.Equal("GET, HEAD, PUT, OPTIONS", match.Allow);
        Assert.Null(match.Endpoint);

        // POST /rooms/{roomId}/report/{eventId} exists, POST /rooms/{roomId}/report (v1.13) does not.
        Assert.Equal(EndpointMatchStatus.NotFound, s_spec.Match("POST", "/_matrix/client/v3/rooms/!r:ex.org/report").Status);
        Assert.Equal(EndpointMatchStatus.MethodNotAllowed, s_spec.Match("PATCH", "/_matrix/client/versions").Status);
    }

    [Fact]
    public void Match_Options_IsPreflightForKnownPathsOnly()
    {
        var match = s_spec.Match("OPTIONS", "/_matrix/client/v3/createRoom");
        Assert.Equal(EndpointMatchStatus.Preflight, match.Status);
        Assert.Equal("/_matrix/client/v3/createRoom", match.Endpoint!.Template.Text);
        Assert.Equal(EndpointMatchStatus.NotFound, s_spec.Match("OPTIONS", "/_synapse/admin/v1/users").Status);
    }

    [Fact]
    public void Match_ParameterAndLiteralCandidates_CollectsMethodsOfBoth()
    {
        var table = EndpointTable.Parse(new StringReader(
            "method\tpath\tapi\tauth\tbody\tdeprecated\tquery\tsource\n" +
            "GET\t/a/{x}\tclient-server\tnone\tnone\tno\t-\tt\n" +
            "PUT\t/a/b\tclient-server\tnone\tjson\tno\t-\tt\n"));
        var matcher = new EndpointMatcher(table);
        Assert.Equal("/a/b", matcher.Match("PUT", "/a/b").Endpoint!.Template.Text);
        Assert.Equal("/a/{x}", matcher.Match("GET", "/a/b").Endpoint!.Template.Text);
        Assert.Equal("GET, HEAD, PUT, OPTIONS", matcher.Match("DELETE", "/a/b").Allow);
    }

    [Fact]
    public void WithOperatorRules_AddsCatchAllAndRemovesDenied()
    {
        Assert.True(EndpointRule.TryParse("GET,POST /_synapse/client/{*path}", allowCatchAll: true, out var sso, out _));
        Assert.True(EndpointRule.TryParse("GET /_matrix/media/v3/preview_url", allowCatchAll: false, out var preview, out _));
        Assert.True(EndpointRule.TryParse("* /_matrix/client/v3/rooms/{roomId}/state/{eventType}/", allowCatchAll: false, out var state, out _));
        var matcher = new EndpointMatcher(EndpointTable.LoadMatrixV111().WithOperatorRules([sso], [preview, state]));

        var match = matcher.Match("POST", "/_synapse/client/oidc/callback");
        Assert.Equal(EndpointMatchStatus.Matched, match.Status);
        Assert.Equal(MatrixApi.Operator, match.Endpoint!.Api);
        Assert.Equal(EndpointMatchStatus.Matched, matcher.Match("GET", "/_synapse/client/pick_username/account/").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_synapse/client/").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_synapse/client/../admin/v1/users").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_synapse/client/a//b").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_synapse/admin/v1/users").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_matrix/media/v3/preview_url").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name/").Status);
        Assert.Equal(EndpointMatchStatus.Matched, matcher.Match("PUT", "/_matrix/client/v3/rooms/!r:ex.org/state/m.room.name").Status);
    }

    [Theory]
    [InlineData("GET /_matrix/not/in/table")]
    [InlineData("DELETE /_matrix/client/versions")]
    public void WithOperatorRules_DenialThatMatchesNothing_Throws(string text)
    {
        Assert.True(EndpointRule.TryParse(text, allowCatchAll: false, out var rule, out _));
        var ex = Assert.Throws<ArgumentException>(() => EndpointTable.LoadMatrixV111().WithOperatorRules([], [rule]));
        Assert.Contains(text, ex.Message);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("GET /no-leading-slash extra")]
    [InlineData("FETCH /a")]
    [InlineData("GET a/b")]
    [InlineData("GET /a/{*rest}/b")]
    [InlineData("GET /a//b")]
    [InlineData("GET /a/../b")]
    [InlineData("GET /a/x{y}")]
    public void EndpointRule_Malformed_IsRejectedWithMessage(string text)
    {
        Assert.False(EndpointRule.TryParse(text, allowCatchAll: true, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }
}
