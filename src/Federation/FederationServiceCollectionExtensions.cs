using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Hosting.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

internal static class FederationServiceCollectionExtensions
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
        services.AddSingleton(sp => SignedListVerification.Create(sp));
        services.AddServiceHttpClient(SignedListVerification.OcspHttpClientName, timeout: null);
        services.AddSingleton<FederationListCache>();
        services.AddSingleton<TransactionDomainCheck>();
        services.AddHostedService<FederationListPoller>();
        services.AddServiceHttpClient(FederationListCache.HttpClientName, timeout: null);
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
        var errors = new OptionsErrors(FederationOptions.SectionName);
        const string S = FederationOptions.SectionName;
        if (!string.IsNullOrEmpty(options.ServerName) && options.OwnServerName is null)
        {
            errors.Add($"{S}:ServerName must be a Matrix server name like example.org (got '{options.ServerName}')");
        }

        errors.HttpBaseUrl(options.RegistrationServiceUrl, allowPath: true);
        errors.Positive(options.PollInterval);
        errors.Positive(options.MaxAge);
        errors.Positive(options.UnknownDomainRefreshInterval);
        errors.Positive(options.RequestTimeout);
        if (string.IsNullOrWhiteSpace(options.CacheFile))
        {
            errors.Add($"{S}:CacheFile is required");
        }

        errors.Positive(options.MaxListBytes);
        errors.HttpBaseUrl(options.KeyNotaryUrl, allowPath: true);
        errors.Positive(options.MaxCachedServerKeys);
        errors.Positive(options.KeyRefetchInterval);
        if (options.Enforce && !options.AllowUnsignedList && !string.IsNullOrEmpty(options.RegistrationServiceUrl) && options.TrustAnchors.Count == 0)
        {
            errors.Add($"{S}:TrustAnchors is empty, so no signed federation list could ever be verified; configure the TSL's CA certificates, or set {S}:AllowUnsignedList=true to accept the registration service's unsigned list (weaker)");
        }

        for (var i = 0; i < options.TrustAnchors.Count; i++)
        {
            errors.FileExistsAt($"{S}:TrustAnchors:{i}", options.TrustAnchors[i]);
        }

        foreach (var algorithm in options.Algorithms.Where(a => a is not ("BP256R1" or "ES256")))
        {
            errors.Add($"{S}:Algorithms: '{algorithm}' is not BP256R1 or ES256");
        }

        errors.HttpBaseUrl(options.Ocsp.ResponderUrl, allowPath: true);
        errors.Positive(options.Ocsp.Timeout);
        errors.Positive(options.Ocsp.MaxResponseBytes);
        return errors.Result;
    }
}
