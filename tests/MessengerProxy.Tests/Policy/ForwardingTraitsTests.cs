using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Tests.Policy;

/// <summary>
/// The traits the forwarding stages read instead of comparing templates, computed once per row: exactly the rows
/// named below carry them, so a stage can never mistake a neighbour for them.
/// </summary>
public sealed class ForwardingTraitsTests
{
    private static readonly EndpointTable s_table = EndpointTable.LoadMatrixV111();

    [Fact]
    public void ResponseRewrite_OnlyVersionsAndWellKnownClient()
    {
        var rewritten = s_table.Endpoints.Where(e => e.Traits.ResponseRewrite != ResponseRewrite.None)
            .Select(e => $"{e.Method} {e.Template.Text} {e.Traits.ResponseRewrite}").Order().ToList();

        Assert.Equal(["GET /.well-known/matrix/client WellKnownClient", "GET /_matrix/client/versions Versions"], rewritten);
    }

    [Fact]
    public void WellKnown_NamesEachDocument()
    {
        var documents = s_table.Endpoints.Where(e => e.Traits.WellKnown != WellKnownDocument.None)
            .Select(e => $"{e.Template.Text} {e.Traits.WellKnown}").Order().ToList();

        Assert.Equal(["/.well-known/matrix/client Client", "/.well-known/matrix/server Server", "/.well-known/matrix/support Support"], documents);
    }

    [Fact]
    public void LearnsDelegation_OnlyTheServerWellKnown()
    {
        var learning = Assert.Single(s_table.Endpoints, e => e.Traits.LearnsDelegation);

        Assert.Equal("/.well-known/matrix/server", learning.Template.Text);
    }

    [Fact]
    public void FederationTransaction_OnlyTheSendTransaction()
    {
        var transaction = Assert.Single(s_table.Endpoints, e => e.Traits.FederationTransaction);

        Assert.Equal("PUT /_matrix/federation/v1/send/{txnId}", $"{transaction.Method} {transaction.Template.Text}");
    }

    [Fact]
    public void LegacyMedia_TheUnauthenticatedDownloadsAndThumbnailsWithAServerName()
    {
        var legacy = s_table.Endpoints.Where(e => e.Traits.LegacyMedia).ToList();

        Assert.NotEmpty(legacy);
        Assert.All(legacy, e =>
        {
            Assert.Equal("GET", e.Method);
            Assert.Matches("^/_matrix/media/v3/(download|thumbnail)/\\{serverName\\}/", e.Template.Text);
        });
        Assert.DoesNotContain(s_table.Endpoints, e => e.Traits.LegacyMedia == false && e.Method == "GET"
            && (e.Template.Text.StartsWith("/_matrix/media/v3/download/", StringComparison.Ordinal) || e.Template.Text.StartsWith("/_matrix/media/v3/thumbnail/", StringComparison.Ordinal)));
    }
}
