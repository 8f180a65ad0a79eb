using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Tests.Policy;

/// <summary>The TIM override table and rule catalogue, and how they become endpoint traits once, when the table is built.</summary>
public sealed class TimRulebookTests
{
    private static readonly EndpointTable s_spec = EndpointTable.LoadMatrixV111();

    private static TimRulebook AllOn() => new(TimOverrideTable.Load(), TimRules.All);

    [Fact]
    public void EveryOverrideRow_NamesAnEndpointOfTheV111Table()
    {
        var rows = s_spec.Endpoints.Select(e => e.ToString()).ToHashSet();
        var overrides = TimOverrideTable.Load();

        Assert.Equal(8, overrides.Count);
        Assert.All(overrides, o => Assert.All(o.Methods, m => Assert.Contains($"{m} {o.Template.Text}", rows)));
        Assert.Equal(overrides.Count, overrides.Select(o => o.Id).Distinct().Count());
    }

    [Fact]
    public void EveryContentRuleEndpoint_IsAnEndpointOfTheV111Table()
    {
        var rows = s_spec.Endpoints.Select(e => e.ToString()).ToHashSet();

        Assert.All(TimRulebook.ContentEndpoints, e => Assert.Contains($"{e.Method} {e.Template}", rows));
    }

    [Fact]
    public void InviteAndAccountHookEndpoints_AreTableRows()
    {
        var rows = s_spec.Endpoints.Select(e => e.ToString()).ToHashSet();

        Assert.All(TimRulebook.InviteAndAccountEndpoints, e => Assert.Contains($"{e.Method} {e.Template}", rows));
    }

    [Fact]
    public void InvitePoints_AreTraits_OffWithTheirRule()
    {
        var on = s_spec.WithTim(AllOn()).Endpoints.ToDictionary(e => e.ToString());
        var off = s_spec.WithTim(new TimRulebook(TimOverrideTable.Load(), TimRules.All.Where(r => r != TimRules.InvitePermission))).Endpoints.ToDictionary(e => e.ToString());

        Assert.Equal(TimInvitePoint.FederationV1, on["PUT /_matrix/federation/v1/invite/{roomId}/{eventId}"].Traits.TimInvite);
        Assert.Equal(TimInvitePoint.FederationV2, on["PUT /_matrix/federation/v2/invite/{roomId}/{eventId}"].Traits.TimInvite);
        Assert.Equal(TimInvitePoint.ClientInvite, on["POST /_matrix/client/v3/rooms/{roomId}/invite"].Traits.TimInvite);
        Assert.Equal(TimInvitePoint.CreateRoom, on["POST /_matrix/client/v3/createRoom"].Traits.TimInvite);
        Assert.Equal(TimAccountHook.PermissionConfigRead, on["GET /_matrix/client/v3/user/{userId}/account_data/{type}"].Traits.TimAccount);
        Assert.Equal(TimAccountHook.LogoutAll, on["POST /_matrix/client/v3/logout/all"].Traits.TimAccount);
        Assert.Equal(TimInvitePoint.None, on["PUT /_matrix/federation/v1/send/{txnId}"].Traits.TimInvite);
        Assert.Equal(TimInvitePoint.None, off["PUT /_matrix/federation/v2/invite/{roomId}/{eventId}"].Traits.TimInvite);
        Assert.Equal(TimAccountHook.None, off["POST /_matrix/client/v3/logout"].Traits.TimAccount);
        // The default answer is a rule of its own, so Client mode keeps it.
        Assert.Equal(TimAccountHook.PermissionConfigRead, off["GET /_matrix/client/v3/user/{userId}/account_data/{type}"].Traits.TimAccount);
    }

    [Fact]
    public void Overrides_BecomeTraits()
    {
        var table = s_spec.WithTim(AllOn()).Endpoints.ToDictionary(e => e.ToString());

        Assert.True(table["GET /_matrix/federation/v1/version"].Traits.RequiresXMatrix);
        Assert.Equal("A_26331", table["GET /_matrix/federation/v1/version"].Traits.Override!.Rule.Requirement);
        Assert.True(table["GET /_matrix/client/v3/publicRooms"].Traits.RequiresAccessToken);
        Assert.True(table["GET /_matrix/client/v3/directory/list/room/{roomId}"].Traits.RequiresAccessToken);
        Assert.False(table["PUT /_matrix/client/v3/directory/list/room/{roomId}"].Traits.Override is not null);
        Assert.Equal(new MatrixError(403, "M_FORBIDDEN", "The room directory is not offered over federation (A_26520, A_28590)"), table["POST /_matrix/federation/v1/publicRooms"].Traits.Override!.Answer);
        Assert.Equal(404, table["GET /_matrix/client/v1/rooms/{roomId}/threads"].Traits.Override!.Answer!.StatusCode);
        // The exemption the spec gives userinfo stays (the VZD-FHIR directory validates OpenID tokens with it).
        Assert.False(table["GET /_matrix/federation/v1/openid/userinfo"].Traits.RequiresXMatrix);
    }

    [Fact]
    public void WithoutTheRulebook_TraitsAreThoseOfV111()
    {
        var table = s_spec.WithTim(TimRulebook.Off).Endpoints.ToDictionary(e => e.ToString());

        Assert.False(table["GET /_matrix/federation/v1/version"].Traits.RequiresXMatrix);
        Assert.False(table["GET /_matrix/client/v3/publicRooms"].Traits.RequiresAccessToken);
        Assert.True(table["POST /_matrix/client/v3/publicRooms"].Traits.RequiresAccessToken);
        Assert.True(table["PUT /_matrix/federation/v1/send/{txnId}"].Traits.RequiresXMatrix);
        Assert.All(table.Values, e => Assert.Null(e.Traits.Override));
        Assert.All(table.Values, e => Assert.Equal(TimContent.None, e.Traits.TimContent));
    }

    [Fact]
    public void ContentRules_ConcernOnlyTheirEndpoints_AllOthersCostNothing()
    {
        var table = s_spec.WithTim(AllOn()).Endpoints;

        var concerned = table.Where(e => e.Traits.TimContent != TimContent.None).Select(e => e.ToString()).Order().ToList();

        Assert.Equal(
        [
            "POST /_matrix/client/v3/createRoom",
            "POST /_matrix/client/v3/register",
            "POST /_matrix/client/v3/rooms/{roomId}/upgrade",
            "PUT /_matrix/client/v3/presence/{userId}/status",
            "PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}",
            "PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}",
            "PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}",
            "PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/",
            "PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}",
        ], concerned);
    }

    [Fact]
    public void DisabledRules_AndRows_LeaveNoTrait()
    {
        var rulebook = new TimRulebook(TimOverrideTable.Load().Where(o => o.Id != "threads"), TimRules.All.Where(r => r != TimRules.RedactionWindow && r != TimRules.RoomVersion));
        var table = s_spec.WithTim(rulebook).Endpoints.ToDictionary(e => e.ToString());

        Assert.Null(table["GET /_matrix/client/v1/rooms/{roomId}/threads"].Traits.Override);
        Assert.Equal(TimContent.None, table["PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}"].Traits.TimContent);
        // Upgrades have only the room version rule; createRoom keeps its other rules.
        Assert.Equal(TimContent.None, table["POST /_matrix/client/v3/rooms/{roomId}/upgrade"].Traits.TimContent);
        Assert.Equal(TimContent.CreateRoom, table["POST /_matrix/client/v3/createRoom"].Traits.TimContent);
    }

    [Theory]
    [InlineData("id\tmethods\tpath\tkind\tstatus\terrcode\tmessage\trequirement\nx\tGET\t/a\tsomething\t-\t-\t-\t-", "unknown kind")]
    [InlineData("id\tmethods\tpath\tkind\tstatus\terrcode\tmessage\trequirement\nx\tGET\t/a\tanswer\t200\tM_X\tm\t-", "4xx/5xx")]
    [InlineData("id\tmethods\tpath\tkind\tstatus\terrcode\tmessage\trequirement\nx\tGET\t/a\tx-matrix\t401\t-\t-\t-", "only answers")]
    [InlineData("id\tmethods\tpath\tkind\tstatus\terrcode\tmessage\trequirement\nx\tGET\t/a\tx-matrix\t-\t-\t-\t-\nx\tGET\t/b\tx-matrix\t-\t-\t-\t-", "repeated")]
    [InlineData("id\tpath\nx\t/a", "header")]
    public void MalformedOverrideTable_IsRefusedWithTheLine(string text, string reason)
    {
        var error = Assert.Throws<FormatException>(() => TimOverrideTable.Parse(new StringReader(text)));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RuleNames_AreUnique_AndEveryRuleNamesItsRequirement()
    {
        Assert.Equal(TimRules.All.Count, TimRules.All.Select(r => r.Name).Distinct().Count());
        Assert.DoesNotContain(TimRules.All, r => TimOverrideTable.Load().Any(o => o.Id == r.Name));
        Assert.All(TimRules.All, r => Assert.Matches(@"^(-|A_\d{5}(-\d\d)?(, A_\d{5}(-\d\d)?)*)$", r.Requirement));
    }
}
