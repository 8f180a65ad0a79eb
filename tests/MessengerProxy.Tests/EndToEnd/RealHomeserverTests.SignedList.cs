using System.Text;
using System.Text.Json;
using Npgsql;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>
/// Steps 80–82: the registration service serves the VZD's signed list and every proxy verifies it itself
/// (Federation:AllowUnsignedList off, the test TSL CA as trust anchor, OCSP against a stand-in responder).
/// </summary>
public sealed partial class RealHomeserverTests
{
    [Fact, Step(80)]
    public async Task EveryProxy_EnforcesTheSignedListItVerified()
    {
        fixture.SkipUnlessRunning();

        foreach (var node in fixture.Nodes)
        {
            var list = await FederationListHealthAsync(node);
            Assert.True(list.GetProperty("status").GetString() == "UP", $"{node.Name}: {list}");
            Assert.True(list.GetProperty("details").GetProperty("signed").GetBoolean());
            Assert.Equal(1, list.GetProperty("details").GetProperty("version").GetInt64());
        }

        // The stand-in responder was asked, by the registration service and by the proxies.
        Assert.True(fixture.ListOcsp.Calls >= 2, $"OCSP responder calls: {fixture.ListOcsp.Calls}");
    }

    [Fact, Step(81)]
    public async Task NewerSignedList_ReachesEveryProxy()
    {
        fixture.SkipUnlessRunning();

        await fixture.ImportSignedListAsync(fixture.SignedList(2), Ct);

        await WaitForEveryProxyAsync(list => list.GetProperty("details").GetProperty("version").GetInt64() == 2, "version 2 in force");
    }

    [Fact, Step(82)]
    public async Task TamperedSignedList_IsRefusedByEveryProxy_ThePreviousListStays()
    {
        fixture.SkipUnlessRunning();

        // Version 3 with one byte of its payload changed, put straight into the registration service's
        // database (its own import would refuse it): the proxies must not take the service's word for it.
        var parts = fixture.SignedList(3).Split('.');
        var payload = Encoding.UTF8.GetString(System.Buffers.Text.Base64Url.DecodeFromChars(parts[1])).Replace("\"1-hs1\"", "\"1-hsX\"", StringComparison.Ordinal);
        var tampered = parts[0] + "." + System.Buffers.Text.Base64Url.EncodeToString(Encoding.UTF8.GetBytes(payload)) + "." + parts[2];
        await using (var connection = new NpgsqlConnection(fixture.Registration.Database.ConnectionString))
        {
            await connection.OpenAsync(Ct);
            await using var insert = new NpgsqlCommand(
                """
                WITH v AS (
                    INSERT INTO federation_list_versions (version, created_at, source, source_version, domain_count)
                    SELECT max(version) + 1, now(), 'e2e:tampered', 3, max(domain_count) FROM federation_list_versions RETURNING version)
                INSERT INTO federation_list_signatures (version, source_version, jws) SELECT version, 3, @jws FROM v
                """, connection);
            insert.Parameters.AddWithValue("jws", tampered);
            await insert.ExecuteNonQueryAsync(Ct);
        }

        await WaitForEveryProxyAsync(list => list.GetProperty("details").TryGetProperty("refused", out var code) && code.GetString() == "signature", "the tampered list refused");
        foreach (var node in fixture.Nodes)
        {
            Assert.Equal(2, (await FederationListHealthAsync(node)).GetProperty("details").GetProperty("version").GetInt64());
        }

        // A genuine newer list clears it (and leaves every proxy UP for the steps after this one).
        await fixture.ImportSignedListAsync(fixture.SignedList(4), Ct);
        await WaitForEveryProxyAsync(list => list.GetProperty("status").GetString() == "UP" && list.GetProperty("details").GetProperty("version").GetInt64() == 4, "version 4 in force");
    }

    private static async Task<JsonElement> FederationListHealthAsync(HomeserverNode node)
    {
        using var health = new HttpClient();
        using var answer = await health.GetAsync($"http://127.0.0.1:{node.HealthPort}/actuator/health/readiness", Ct);
        using var body = JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Ct));
        return body.RootElement.GetProperty("components").GetProperty("federation-list").Clone();
    }

    /// <summary>Polls every proxy's readiness (bounded: a hang guard, not a timing assertion) until the condition holds.</summary>
    private async Task WaitForEveryProxyAsync(Func<JsonElement, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        foreach (var node in fixture.Nodes)
        {
            while (true)
            {
                var list = await FederationListHealthAsync(node);
                if (condition(list))
                {
                    break;
                }

                Assert.True(DateTime.UtcNow < deadline, $"{node.Name}: not {what}: {list}\n{fixture.Diagnostics()}");
                await Task.Delay(ProxyConfiguration.PollInterval, Ct);
            }
        }
    }
}
