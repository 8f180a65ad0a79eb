using System.Text;
using MessengerProxy.Federation;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Policy.Federation;
using MessengerProxy.Registration.Validation;

namespace MessengerProxy.Tests.Federation;

/// <summary>
/// One document type on both sides: what the registration service writes is what the proxy reads, field for
/// field, and the service's strict reader refuses what the schema does not allow, naming the field.
/// </summary>
public sealed class FederationListDocumentTests
{
    private static readonly FederationDomain[] s_domains =
    [
        new("a.example.org", "1-a", false),
        new("kasse.example.org", "5-k", true) { Ik = ["109500969", "101575519"] },
    ];

    [Fact]
    public void TheServiceAnswer_IsReadByTheProxy_WithEveryField()
    {
        var answer = FederationListJson.Serialize(new FederationListSnapshot(7, DateTimeOffset.UnixEpoch, "test", s_domains));

        var (list, confirmedAt) = FederationListCopy.Parse(answer);

        Assert.Equal(7, list.Version);
        Assert.Null(confirmedAt);
        AssertSameEntries(s_domains, list.Entries);
        Assert.Equal(
            """{"version":7,"domainList":[{"domain":"a.example.org","telematikID":"1-a","isInsurance":false,"ik":[]},{"domain":"kasse.example.org","telematikID":"5-k","isInsurance":true,"ik":["109500969","101575519"]}]}""",
            Encoding.UTF8.GetString(answer));
    }

    [Fact]
    public void ThePersistedCopy_KeepsTheConfirmationTime_AndIsReadAsTheServiceReadsIt()
    {
        var confirmed = new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero);
        using var stream = new MemoryStream();
        FederationListCopy.Write(stream, new FederationList(3, s_domains), confirmed);

        var (list, confirmedAt) = FederationListCopy.Parse(stream.ToArray());
        var strict = FederationListJson.TryParseList(stream.ToArray(), requireVersion: true, out _, out _, out var error);

        Assert.Equal(3, list.Version);
        Assert.Equal(confirmed, confirmedAt);
        AssertSameEntries(s_domains, list.Entries);
        // The service's reader knows the shared document only: the proxy's addition is not part of it.
        Assert.False(strict);
        Assert.Equal("confirmedAt: unknown field", error);
    }

    [Fact]
    public void TheProxy_ReadsTheTimReferenceShape_WithoutIkAndWithUnknownFields()
    {
        var (list, _) = FederationListCopy.Parse("""{"version":2,"extra":true,"domainList":[{"domain":"B.Example.org","telematikID":"t","isInsurance":false,"timAnbieter":"x","colour":"red"}]}"""u8.ToArray());

        var entry = Assert.Single(list.Entries);
        Assert.Equal("b.example.org", entry.Domain);
        Assert.Empty(entry.Ik);
    }

    [Theory]
    [InlineData("""{"domainList":[{"domain":"a.example.org","telematikID":"x","ik":null}]}""", "domainList[0].ik: must be an array of IK numbers")]
    [InlineData("""{"domainList":[{"domain":null,"telematikID":"x"}]}""", "domainList[0].domain: must be a string")]
    [InlineData("""{"domainList":[null]}""", "domainList[0]: must be an object")]
    [InlineData("""{"domainList":[5]}""", "domainList[0]: must be an object")]
    [InlineData("""{"domainList":null}""", "domainList: required, must be an array")]
    [InlineData("""{}""", "domainList: required, must be an array")]
    [InlineData("""{"domainList":[],"domainList":[]}""", "domainList: appears twice")]
    [InlineData("""{"version":-1,"domainList":[]}""", "version: must be a non-negative integer")]
    [InlineData("""{"version":"1","domainList":[]}""", "version: must be a non-negative integer")]
    public void TheServiceReader_RefusesWhatTheSchemaDoesNotAllow_NamingTheField(string json, string expected)
    {
        Assert.False(FederationListJson.TryParseList(Encoding.UTF8.GetBytes(json), requireVersion: false, out _, out _, out var error));
        Assert.Equal(expected, error);
    }

    [Theory]
    [InlineData("""{"contacts":[{"role":"m.role.admin","email_address":null}]}""", "contacts[0].email_address: must be an email address")]
    [InlineData("""{"contacts":null}""", "contacts: must be an array")]
    [InlineData("""{"contacts":[{"role":"m.role.admin","email_address":"a@example.org","role":"m.role.security"}]}""", "contacts[0].role: appears twice")]
    [InlineData("""{"support_page":5}""", "support_page: must be an absolute http(s) URL")]
    public void TheSupportReader_RefusesWhatTheSchemaDoesNotAllow_NamingTheField(string json, string expected)
    {
        Assert.False(SupportJson.TryParse("example.org", Encoding.UTF8.GetBytes(json), out _, out var error));
        Assert.Equal(expected, error);
    }

    private static void AssertSameEntries(IEnumerable<FederationDomain> expected, IEnumerable<FederationDomain> actual) =>
        Assert.Equal(
            expected.Select(e => (e.Domain, e.TelematikId, e.IsInsurance, string.Join(',', e.Ik))).OrderBy(e => e.Domain),
            actual.Select(e => (e.Domain, e.TelematikId, e.IsInsurance, string.Join(',', e.Ik))).OrderBy(e => e.Domain));
}
