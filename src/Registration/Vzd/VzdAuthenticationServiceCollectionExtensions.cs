using MessengerProxy.Hosting.Health;
using MessengerProxy.Hosting.Http;
using MessengerProxy.Registration.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Registration.Vzd;

internal static class VzdAuthenticationServiceCollectionExtensions
{
    public const string HealthCheckName = "vzd-authentication";

    /// <summary>The VZD authentication as a handler of the VZD client, its own client for the token requests, its readiness check.</summary>
    public static IServiceCollection AddVzdAuthentication(this IServiceCollection services)
    {
        services.AddSingleton<VzdMetrics>();
        services.AddSingleton<VzdTokenSource>();
        services.AddTransient<VzdAuthenticationHandler>();
        services.AddServiceHttpClient(VzdTokenSource.HttpClientName, sp => sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.Vzd.RequestTimeout, useSystemProxy: true);
        services.AddHttpClient(VzdFederationListFetcher.HttpClientName).AddHttpMessageHandler<VzdAuthenticationHandler>();
        services.AddHealthChecks().AddCheck<VzdAuthenticationHealthCheck>(HealthCheckName, tags: [ActuatorEndpoints.ReadyTag]);
        return services;
    }
}
