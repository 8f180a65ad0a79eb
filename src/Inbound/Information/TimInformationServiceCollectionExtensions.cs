using MessengerProxy.Hosting.Health;
using MessengerProxy.Hosting.Http;
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
        services.AddServiceHttpClient(OpenIdTokenValidator.HttpClientName, sp => sp.GetRequiredService<IOptions<TimInformationOptions>>().Value.UserInfoTimeout);

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
