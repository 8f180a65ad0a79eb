using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Hosting.Health;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

public static class FederationServiceCollectionExtensions
{
    /// <summary>Registers the federation list (cache, poller, persisted copy) and its readiness checks.</summary>
    public static IServiceCollection AddFederationList(this IServiceCollection services, IConfiguration configuration)
    {
        // Inbound and outbound proxy share one list; whichever registers first brings it.
        if (services.Any(d => d.ServiceType == typeof(FederationListCache)))
        {
            return services;
        }

        services.AddOptions<FederationOptions>().Bind(configuration.GetSection(FederationOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<FederationOptions>, FederationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton<FederationListFile>();
        services.AddSingleton<FederationListCache>();
        services.AddHostedService<FederationListPoller>();
        services.AddHttpClient(FederationListCache.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false });
        services.AddHealthChecks()
            .AddCheck<FederationListHealthCheck>("federation-list", tags: [ActuatorEndpoints.ReadyTag])
            .AddCheck<RegistrationServiceHealthCheck>("registration-service", tags: [ActuatorEndpoints.ReadyTag]);
        return services;
    }
}

internal sealed class FederationOptionsValidator : IValidateOptions<FederationOptions>
{
    public ValidateOptionsResult Validate(string? name, FederationOptions options)
    {
        var errors = new List<string>();
        const string S = FederationOptions.SectionName;
        if (!string.IsNullOrEmpty(options.ServerName) && !MessengerProxy.Policy.Federation.ServerNames.TryGetHost(options.ServerName, out _))
        {
            errors.Add($"{S}:ServerName must be a Matrix server name like example.org (got '{options.ServerName}')");
        }

        if (!string.IsNullOrEmpty(options.RegistrationServiceUrl) && !ConfigurationChecks.TryParseHttpBaseUrl(options.RegistrationServiceUrl, out _, out var why, allowPath: true))
        {
            errors.Add($"{S}:RegistrationServiceUrl {why} (got '{options.RegistrationServiceUrl}')");
        }

        foreach (var (key, value) in new[] { ("PollInterval", options.PollInterval), ("MaxAge", options.MaxAge), ("UnknownDomainRefreshInterval", options.UnknownDomainRefreshInterval), ("RequestTimeout", options.RequestTimeout) })
        {
            if (value <= TimeSpan.Zero)
            {
                errors.Add($"{S}:{key} must be positive (got {value})");
            }
        }

        if (string.IsNullOrWhiteSpace(options.CacheFile))
        {
            errors.Add($"{S}:CacheFile is required");
        }

        if (options.MaxListBytes <= 0)
        {
            errors.Add($"{S}:MaxListBytes must be positive (got {options.MaxListBytes})");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
