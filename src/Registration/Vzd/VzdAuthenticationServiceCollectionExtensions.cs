using MessengerProxy.Hosting.Health;
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
        services.AddHttpClient(VzdTokenSource.HttpClientName, (sp, client) =>
                client.Timeout = sp.GetRequiredService<IOptions<RegistrationOptions>>().Value.Vzd.RequestTimeout)
            // A redirect would resend the form (client secret included) or the token to wherever it points.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        services.AddHttpClient(VzdFederationListFetcher.HttpClientName).AddHttpMessageHandler<VzdAuthenticationHandler>();
        services.AddHealthChecks().AddCheck<VzdAuthenticationHealthCheck>(HealthCheckName, tags: [ActuatorEndpoints.ReadyTag]);
        return services;
    }
}
