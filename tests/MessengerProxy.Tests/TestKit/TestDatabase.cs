using MessengerProxy.Persistence;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Persistence.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Tests.TestKit;

/// <summary>A fresh database on the shared PostgreSQL server, migrated, with the stores over it.</summary>
internal sealed class TestDatabase : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private TestDatabase(string connectionString, ServiceProvider services)
    {
        ConnectionString = connectionString;
        _services = services;
    }

    public string ConnectionString { get; }

    public FederationListStore Federation => _services.GetRequiredService<FederationListStore>();

    public SupportStore Support => _services.GetRequiredService<SupportStore>();

    public IDbContextFactory<RegistrationDbContext> Contexts => _services.GetRequiredService<IDbContextFactory<RegistrationDbContext>>();

    public static async Task<TestDatabase> CreateAsync(PostgresFixture postgres, bool migrate = true)
    {
        var connectionString = await postgres.CreateDatabaseAsync();
        var services = new ServiceCollection().AddRegistrationPersistence(_ => connectionString).BuildServiceProvider();
        var database = new TestDatabase(connectionString, services);
        if (migrate)
        {
            await using var db = await database.Contexts.CreateDbContextAsync();
            await db.Database.MigrateAsync();
        }

        return database;
    }

    public ValueTask DisposeAsync() => _services.DisposeAsync();
}
