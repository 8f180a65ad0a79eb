using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Tests.Policy;

/// <summary>The committed raw-data operation table, and how it becomes endpoint traits once, when the table is built.</summary>
public sealed class RawDataOperationTableTests
{
    private static readonly EndpointTable s_spec = EndpointTable.LoadMatrixV111();

    private const string Header = "direction\tmethod\tpath\toperation\tinvitee-inside\tinvitee-outside\n";

    [Fact]
    public void EveryRow_NamesAnEndpointOfTheV111Table_OfItsDirection()
    {
        var rows = s_spec.Endpoints.ToDictionary(e => e.ToString());
        var table = RawDataOperationTable.Committed;

        Assert.Equal(52, table.Rows.Count());
        Assert.All(table.Rows, r => Assert.True(rows.ContainsKey($"{r.Method} {r.Template}"), $"{r.Method} {r.Template} is no table row"));
        Assert.All(table.Rows.Where(r => !r.Inbound), r => Assert.Equal(MatrixApi.ServerServer, rows[$"{r.Method} {r.Template}"].Api));
    }

    [Fact]
    public void Traits_CarryTheOperationOfEachDirection()
    {
        EndpointDescriptor Row(string method, string template) => s_spec.Endpoints.Single(e => e.Method == method && e.Template.Text == template);

        Assert.Equal("MP_CLIENT_LOGIN_REQUEST_ACCESS_TOKEN", Row("POST", "/_matrix/client/v3/login").Traits.InboundRawData!.Operation);
        Assert.Equal("MP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES", Row("GET", "/_matrix/client/v3/login").Traits.InboundRawData!.Operation);
        Assert.Null(Row("POST", "/_matrix/client/v3/login").Traits.OutboundRawData);
        var federationEvent = Row("GET", "/_matrix/federation/v1/event/{eventId}").Traits;
        Assert.Equal("MP_EXCHANGE_EVENT_OUTSIDE_ORGANISATION_RECEIVER", federationEvent.InboundRawData!.Operation);
        Assert.Equal("MP_EXCHANGE_EVENT_OUTSIDE_ORGANISATION_SENDER", federationEvent.OutboundRawData!.Operation);
        var createRoom = Row("POST", "/_matrix/client/v3/createRoom").Traits.InboundRawData!;
        Assert.True(createRoom.DependsOnInvitees);
        Assert.Equal(("MP_EXCHANGE_EVENT_WITHIN_ORGANISATION", "MP_INVITE_WITHIN_ORGANISATION_INVITE", "MP_INVITE_OUTSIDE_ORGANISATION_INVITE_SENDER"),
            (createRoom.Operation, createRoom.InviteeInside, createRoom.InviteeOutside));
        Assert.Null(Row("GET", "/_matrix/client/v3/sync").Traits.InboundRawData);
    }

    [Fact]
    public void OperatorAdditions_AreNeverReported()
    {
        Assert.True(EndpointRule.TryParse("GET /_matrix/client/v3/login/extra", allowCatchAll: false, out var extra, out _));
        var table = s_spec.WithOperatorRules([extra], []);

        Assert.Null(table.Endpoints.Single(e => e.Api == MatrixApi.Operator).Traits.InboundRawData);
    }

    [Theory]
    [InlineData("inbound\tGET\t/x\tMP_NOT_AN_OPERATION\t-\t-", "not an operation of the rawdata-master")]
    [InlineData("sideways\tGET\t/x\tMP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\t-\t-", "unknown direction")]
    [InlineData("inbound\tGET\t/x\tMP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\tMP_INVITE_WITHIN_ORGANISATION_INVITE\t-", "both operations or both '-'")]
    [InlineData("inbound\tGET\t/x\tMP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\t-", "expected 6 columns")]
    [InlineData("inbound\tGET\t/x\tMP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\t-\t-\ninbound\tGET\t/x\tMP_CLIENT_LOGIN_SUPPORTED_LOGIN_TYPES\t-\t-", "repeated")]
    public void MalformedTable_IsRefusedWithTheLine(string rows, string message)
    {
        var error = Assert.Throws<FormatException>(() => RawDataOperationTable.Parse(new StringReader(Header + rows)));

        Assert.Contains(message, error.Message);
        Assert.StartsWith("line ", error.Message);
    }
}
