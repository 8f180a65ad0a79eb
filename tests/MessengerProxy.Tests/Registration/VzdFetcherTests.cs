using MessengerProxy.Registration.Vzd;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.Registration;

/// <summary>The service fetches the signed list from a stand-in VZD, asking for versions newer than its last import.</summary>
public sealed class VzdFetcherTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Fetcher_ImportsSignedList_ThenAsksForNewerVersionsOnly()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("mp-vzd-").FullName;
        var pki = TestPki.Create(TestPki.Brainpool);
        var (key, signer) = pki.IssueSigner(TestPki.Brainpool);
        var jws = TestPki.SignJws("""{"version":7,"domainList":[{"domain":"praxis.example.org","telematikID":"1-1","isInsurance":false}]}""", "BP256R1", key.Private, signer);

        await using var vzd = await RecordingUpstream.StartAsync();
        vzd.Respond = async (context, request) =>
        {
            if (request.RawTarget.Contains("version=7", StringComparison.Ordinal))
            {
                context.Response.StatusCode = 204;
                return;
            }

            context.Response.ContentType = "application/octet-stream";
            await context.Response.WriteAsync(jws);
        };

        await using var host = await RegistrationHost.StartAsync(postgres,
            $"Registration:Vzd:TrustAnchors:0={pki.WriteCaPem(directory)}",
            $"Registration:Vzd:FederationListUrl={vzd.BaseUri}tim-provider-services/FederationList/federationList.jws",
            "Registration:Vzd:BearerToken=vzd-token",
            "Registration:Vzd:PollInterval=01:00:00");
        var fetcher = host.Services.GetRequiredService<VzdFederationListFetcher>();

        // The background loop fetches once at start; a second, explicit round must find nothing newer.
        await fetcher.FetchOnceAsync(ct);
        await fetcher.FetchOnceAsync(ct);

        var latest = await host.Database.Federation.GetLatestVersionAsync(ct);
        Assert.Equal(1, latest!.Version);
        Assert.Equal(7, latest.SourceVersion);
        Assert.StartsWith("vzd:", latest.Source, StringComparison.Ordinal);
        Assert.All(vzd.Requests, r => Assert.Equal("Bearer vzd-token", r.Header("Authorization")));
        Assert.Contains(vzd.Requests, r => r.RawTarget == "/tim-provider-services/FederationList/federationList.jws");
        Assert.Contains(vzd.Requests, r => r.RawTarget == "/tim-provider-services/FederationList/federationList.jws?version=7");
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Fetcher_RefusesAnEmptySignedList_AndThePreviousListStays()
    {
        var ct = TestContext.Current.CancellationToken;
        var directory = Directory.CreateTempSubdirectory("mp-vzd-").FullName;
        var pki = TestPki.Create(TestPki.Brainpool);
        var (key, signer) = pki.IssueSigner(TestPki.Brainpool);
        var empty = TestPki.SignJws("""{"version":8,"domainList":[]}""", "BP256R1", key.Private, signer);

        await using var vzd = await RecordingUpstream.StartAsync();
        vzd.Respond = async (context, request) =>
        {
            context.Response.ContentType = "application/octet-stream";
            await context.Response.WriteAsync(empty);
        };

        await using var host = await RegistrationHost.StartAsync(postgres,
            $"Registration:Vzd:TrustAnchors:0={pki.WriteCaPem(directory)}",
            $"Registration:Vzd:FederationListUrl={vzd.BaseUri}federationList.jws",
            "Registration:Vzd:PollInterval=01:00:00");
        await host.Database.Federation.ReplaceAsync([new("keep.example.org", "k", false)], new("admin:replace"), ct);

        await host.Services.GetRequiredService<VzdFederationListFetcher>().FetchOnceAsync(ct);

        Assert.NotEmpty(vzd.Requests);
        var latest = await host.Database.Federation.GetLatestAsync(ct);
        Assert.Equal((1L, "admin:replace"), (latest!.Version, latest.Source));
        Assert.Null(await host.Database.Federation.GetLastSourceVersionAsync(ct));
        Directory.Delete(directory, recursive: true);
    }
}
