using MessengerProxy.AllowlistGenerator;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Policy;

public sealed class EndpointTableTests
{
    private const string TablePath = "src/Policy/Endpoints/matrix-v1.11-endpoints.tsv";

    [Fact]
    public void CommittedTable_EqualsGeneratorOutput_WhenSpecIsPresent()
    {
        var spec = RepoPaths.MatrixSpecDirectory();
        Assert.SkipWhen(spec is null, "Matrix spec folder not found (set MATRIX_SPEC_DIR or place ../shared/matrix-spec-v1.11 beside the checkout)");

        var generated = AllowlistTableGenerator.Generate(spec!);
        var committed = File.ReadAllText(RepoPaths.Combine(TablePath));
        Assert.Equal(generated, committed);
    }

    [Fact]
    public void EmbeddedTable_IsTheCommittedFile()
    {
        var committed = EndpointTable.Parse(new StringReader(File.ReadAllText(RepoPaths.Combine(TablePath))));
        var embedded = EndpointTable.LoadMatrixV111();
        Assert.Equal(committed.Endpoints.Select(e => e.ToString()), embedded.Endpoints.Select(e => e.ToString()));
    }

    [Fact]
    public void ServedOn_EveryRowBelongsToTheListenersOfItsApi()
    {
        foreach (var endpoint in EndpointTable.LoadMatrixV111().Endpoints)
        {
            var expected = endpoint.ToString() == "GET /.well-known/matrix/server"
                ? ListenerApis.All
                : endpoint.Api == MatrixApi.ServerServer ? ListenerApis.Federation : ListenerApis.Client;
            Assert.True(expected == endpoint.Traits.ServedOn, $"{endpoint}: {endpoint.Traits.ServedOn}");
            Assert.Equal(endpoint.Family is EndpointFamily.Federation or EndpointFamily.Keys, endpoint.Traits.ServedOn == ListenerApis.Federation);
        }
    }

    [Theory]
    [InlineData("GET /_synapse/client/{*path}", ListenerApis.Client)]
    [InlineData("GET /_matrix/client/unstable/org.example/thing", ListenerApis.Client)]
    [InlineData("PUT /_matrix/federation/unstable/org.example/thing/{id}", ListenerApis.Federation)]
    [InlineData("GET /_matrix/key/unstable/thing", ListenerApis.Federation)]
    public void ServedOn_OperatorAdditionsFollowTheirNamespace(string rule, ListenerApis expected)
    {
        Assert.True(EndpointRule.TryParse(rule, allowCatchAll: true, out var addition, out var error), error);

        var table = EndpointTable.LoadMatrixV111().WithOperatorRules([addition], []);

        Assert.Equal(expected, Assert.Single(table.Endpoints, e => e.Api == MatrixApi.Operator).Traits.ServedOn);
    }

    [Fact]
    public void Table_CoversEveryApiTheProxyFronts()
    {
        var rows = EndpointTable.LoadMatrixV111().Endpoints.Select(e => e.ToString()).ToHashSet();
        string[] expected =
        [
            "GET /.well-known/matrix/client",
            "GET /.well-known/matrix/server",
            "GET /.well-known/matrix/support",
            "GET /_matrix/client/versions",
            "GET /_matrix/client/v3/sync",
            "POST /_matrix/media/v3/upload",
            "GET /_matrix/media/v3/download/{serverName}/{mediaId}/{fileName}",
            "GET /_matrix/client/v1/media/thumbnail/{serverName}/{mediaId}",
            "GET /_matrix/key/v2/server",
            "POST /_matrix/key/v2/query",
            "PUT /_matrix/federation/v1/send/{txnId}",
            "PUT /_matrix/federation/v2/invite/{roomId}/{eventId}",
            "GET /_matrix/federation/v1/openid/userinfo",
        ];
        Assert.All(expected, row => Assert.Contains(row, rows));
    }

    [Theory]
    [InlineData("/_matrix/client/v1/auth_metadata")]
    [InlineData("/_matrix/client/v3/rooms/{roomId}/report")]
    [InlineData("/_matrix/client/v3/profile/{userId}/{keyName}")]
    [InlineData("/_matrix/client/v1/room_summary/{roomIdOrAlias}")]
    [InlineData("/_matrix/client/v3/users/{userId}/report")]
    public void Table_HasNoLaterSpecEndpoints(string template)
    {
        Assert.DoesNotContain(EndpointTable.LoadMatrixV111().Endpoints, e => e.Template.Text == template);
    }

    [Fact]
    public void Table_CarriesAuthAndBodyColumnsFromTheSpec()
    {
        var table = EndpointTable.LoadMatrixV111().Endpoints.ToDictionary(e => e.ToString());
        Assert.Equal(AuthRequirement.Required, table["GET /_matrix/client/v3/sync"].Auth);
        Assert.Equal(AuthRequirement.None, table["POST /_matrix/client/v3/login"].Auth);
        Assert.Equal(AuthRequirement.Optional, table["GET /_matrix/client/versions"].Auth);
        Assert.Equal(AuthRequirement.Required, table["PUT /_matrix/federation/v1/send/{txnId}"].Auth);
        Assert.Equal(AuthRequirement.None, table["GET /_matrix/key/v2/server"].Auth);
        Assert.Equal(RequestBodyKind.Binary, table["POST /_matrix/media/v3/upload"].Body);
        Assert.Equal(RequestBodyKind.Json, table["POST /_matrix/client/v3/createRoom"].Body);
        Assert.Equal(MatrixApi.ServerServer, table["GET /.well-known/matrix/server"].Api);
        Assert.True(table["GET /_matrix/media/v3/download/{serverName}/{mediaId}"].Deprecated);
        Assert.Equal(EndpointFamily.Media, table["GET /_matrix/client/v1/media/config"].Family);
    }

    [Fact]
    public void Parse_RejectsMalformedTables()
    {
        Assert.Throws<FormatException>(() => EndpointTable.Parse(new StringReader("GET\t/a\n")));
        Assert.Throws<FormatException>(() => EndpointTable.Parse(new StringReader(
            "method\tpath\tapi\tauth\tbody\tdeprecated\tquery\tsource\nGET\t/a\tweird-api\tnone\tnone\tno\t-\tx\n")));
        Assert.Throws<FormatException>(() => EndpointTable.Parse(new StringReader(
            "method\tpath\tapi\tauth\tbody\tdeprecated\tquery\tsource\nGET\t/a\tclient-server\tnone\n")));
    }
}
