using MessengerProxy.Hosting.Health;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Information;

internal static class TimInformationServiceCollectionExtensions
{
    /// <summary>Registers the TI-M information API; its listener is opened by the host when <c>TimInformation:Enabled</c>.</summary>
    public static IServiceCollection AddTimInformationApi(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(TimInformationOptions.SectionName);
        services.AddOptions<TimInformationOptions>().Bind(section).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TimInformationOptions>, TimInformationOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<TimInformationMetrics>();
        services.AddSingleton<OpenIdTokenValidator>();
        services.AddSingleton<TimInformationApi>();
        services.AddHttpClient(OpenIdTokenValidator.HttpClientName, (sp, client) =>
                client.Timeout = sp.GetRequiredService<IOptions<TimInformationOptions>>().Value.UserInfoTimeout)
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = false });

        // Bound here already (not through IOptions) because whether the check exists is decided at registration.
        if (section.GetValue(nameof(TimInformationOptions.Enabled), true))
        {
            services.AddHealthChecks().AddCheck<TimInformationHealthCheck>("tim-information", tags: [ActuatorEndpoints.ReadyTag]);
        }

        return services;
    }

    /// <summary>The pipeline of the information API's listener.</summary>
    public static Microsoft.AspNetCore.Http.RequestDelegate TimInformationPipeline(this IServiceProvider services) =>
        services.GetRequiredService<TimInformationApi>().InvokeAsync;
}
