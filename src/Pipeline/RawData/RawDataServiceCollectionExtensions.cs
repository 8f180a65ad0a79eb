using MessengerProxy.Hosting.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Pipeline.RawData;

internal static class RawDataServiceCollectionExtensions
{
    /// <summary>
    /// Registers the one raw-data reporter both pipelines share, its sender and its HTTP client (section <c>RawData</c>);
    /// idempotent, since each pipeline asks for it.
    /// </summary>
    public static IServiceCollection AddRawDataReporting(this IServiceCollection services)
    {
        if (services.Any(d => d.ServiceType == typeof(RawDataReporter)))
        {
            return services;
        }

        services.AddOptions<RawDataOptions>().BindConfiguration(RawDataOptions.SectionName).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RawDataOptions>, RawDataOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<RawDataMetrics>();
        services.AddSingleton<RawDataReporter>();
        services.AddHostedService<RawDataSender>();
        services.AddServiceHttpClient(RawDataSender.HttpClientName, sp => sp.GetRequiredService<IOptions<RawDataOptions>>().Value.SendTimeout);
        return services;
    }
}
