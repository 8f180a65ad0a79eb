using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace MessengerProxy.Persistence;

/// <summary>
/// Lets <c>dotnet ef migrations add</c> build the model without a running service. Adding a migration needs no
/// database; <c>dotnet ef database update</c> uses <c>REGISTRATION_DB</c> as the connection string.
/// </summary>
internal sealed class DesignTimeDbContextFactory : IDesignTimeDbContextFactory<RegistrationDbContext>
{
    public RegistrationDbContext CreateDbContext(string[] args)
    {
        var connectionString = Environment.GetEnvironmentVariable("REGISTRATION_DB") ?? "Host=localhost;Database=registration;Username=registration";
        return new RegistrationDbContext(new DbContextOptionsBuilder<RegistrationDbContext>().UseNpgsql(connectionString).Options);
    }
}
