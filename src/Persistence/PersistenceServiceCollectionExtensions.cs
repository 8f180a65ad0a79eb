using MessengerProxy.Persistence.Federation;
using MessengerProxy.Persistence.Support;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MessengerProxy.Persistence;

internal static class PersistenceServiceCollectionExtensions
{
    /// <summary>Registers the registration service's database (PostgreSQL via Npgsql) and its stores.</summary>
    public static IServiceCollection AddRegistrationPersistence(this IServiceCollection services, Func<IServiceProvider, string> connectionString)
    {
        services.AddDbContextFactory<RegistrationDbContext>((sp, options) => options.UseNpgsql(connectionString(sp)));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<FederationListStore>();
        services.AddSingleton<SupportStore>();
        return services;
    }
}
