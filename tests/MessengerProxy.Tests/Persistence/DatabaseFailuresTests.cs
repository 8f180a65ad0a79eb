using System.Net;
using System.Net.Sockets;
using MessengerProxy.Persistence;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Tests.TestKit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace MessengerProxy.Tests.Persistence;

/// <summary>Which failures mean "the database cannot be reached now" (answered 503 by the service) and which are faults.</summary>
public sealed class DatabaseFailuresTests(PostgresFixture postgres)
{
    [Fact]
    public async Task NoServerOnThePort_IsUnavailable_DirectlyAndThroughTheStore()
    {
        var ct = TestContext.Current.CancellationToken;
        var connectionString = $"Host=127.0.0.1;Port={ClosedPort()};Username=postgres;Database=postgres;Timeout=5";

        await using (var connection = new NpgsqlConnection(connectionString))
        {
            var direct = await Assert.ThrowsAnyAsync<Exception>(() => connection.OpenAsync(ct));
            Assert.True(DatabaseFailures.IsUnavailable(direct), direct.ToString());
        }

        await using var services = new ServiceCollection().AddRegistrationPersistence(_ => connectionString).BuildServiceProvider();
        var store = services.GetRequiredService<FederationListStore>();
        var read = await Assert.ThrowsAnyAsync<Exception>(() => store.GetLatestVersionAsync(ct));
        Assert.True(DatabaseFailures.IsUnavailable(read), read.ToString());
        var write = await Assert.ThrowsAnyAsync<Exception>(() => store.ReplaceAsync([new("a.example", "t", false)], new("test"), ct));
        Assert.True(DatabaseFailures.IsUnavailable(write), write.ToString());
    }

    [Fact]
    public async Task ErrorsOfAReachableServer_AreNotUnavailability()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var db = await TestDatabase.CreateAsync(postgres);
        await using var context = await db.Contexts.CreateDbContextAsync(ct);

        var syntax = await Assert.ThrowsAnyAsync<Exception>(() => context.Database.ExecuteSqlRawAsync("SELEC 1", ct));
        var division = await Assert.ThrowsAnyAsync<Exception>(() => context.Database.ExecuteSqlRawAsync("SELECT 1/0", ct));

        Assert.False(DatabaseFailures.IsUnavailable(syntax), syntax.ToString());
        Assert.False(DatabaseFailures.IsUnavailable(division), division.ToString());
        Assert.False(DatabaseFailures.IsUnavailable(new InvalidOperationException("unrelated")));
    }

    [Fact]
    public void AWrappedConnectionFailure_IsUnavailable()
    {
        var refused = new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused));
        Assert.True(DatabaseFailures.IsUnavailable(new DbUpdateException("save failed", refused)));
        Assert.True(DatabaseFailures.IsUnavailable(new InvalidOperationException("transient", new TimeoutException("x", refused))));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
