using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Mapping;
using MessengerProxy.LowBandwidth.Server;
using MessengerProxy.Policy.Versions;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth;

internal static class LowBandwidthServiceCollectionExtensions
{
    /// <summary>Registers the MSC3079 front door; it runs when <c>LowBandwidth:Enabled</c> is true.</summary>
    public static IServiceCollection AddLowBandwidthFrontDoor(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LowBandwidthOptions>().Bind(configuration.GetSection(LowBandwidthOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LowBandwidthOptions>, LowBandwidthOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LowBandwidthMetrics>();
        services.AddSingleton<BodyBudget>();
        services.AddSingleton<InboundBridge>();
        services.AddSingleton<CoapHttpTranslator>();
        services.AddSingleton<CoapRequestHandler>();
        services.AddSingleton<SyncObserver>();
        services.AddSingleton<CoapEndpoint>();
        services.AddSingleton<LowBandwidthServer>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<LowBandwidthServer>());
        services.AddSingleton<IVersionsAdvertisement>(sp => sp.GetRequiredService<LowBandwidthServer>());
        return services;
    }

    /// <summary>Feeds translated requests into <paramref name="inboundPipeline"/>, the same pipeline HTTP requests take.</summary>
    public static void ConnectLowBandwidthFrontDoor(this IServiceProvider services, RequestDelegate inboundPipeline) =>
        services.GetRequiredService<InboundBridge>().Connect(inboundPipeline);
}
