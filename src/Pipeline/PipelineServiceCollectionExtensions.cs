using MessengerProxy.Pipeline.Diagnostics;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.RawData;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline;

internal static class PipelineServiceCollectionExtensions
{
    /// <summary>
    /// Registers one direction's <see cref="ProxyPipeline{TRequest}"/>: its stages (<typeparamref name="TDirection"/>), its
    /// upstream client factory as the keyed <see cref="IForwarderHttpClientFactory"/> of <paramref name="direction"/>
    /// (kept if already registered, so a test can put a fake handler under the whole pipeline) and its forwarder.
    /// </summary>
    public static IServiceCollection AddProxyPipeline<TRequest, TDirection>(
        this IServiceCollection services,
        PipelineDirection direction,
        Func<IServiceProvider, IForwarderHttpClientFactory> clientFactory,
        Func<IServiceProvider, TimeSpan> activityTimeout,
        Func<IServiceProvider, RequestMetrics> metrics)
        where TRequest : class, IProxyRequest
        where TDirection : class, IRequestDirection<TRequest>
    {
        services.AddHttpForwarder();
        services.AddRawDataReporting();
        services.TryAddKeyedSingleton(direction, (sp, _) => clientFactory(sp));
        services.AddSingleton<TDirection>();
        services.AddSingleton(sp =>
        {
            var logger = sp.GetRequiredService<ILogger<ProxyPipeline<TRequest>>>();
            var requests = metrics(sp);
            var forwarder = new UpstreamForwarder(
                sp.GetRequiredService<IHttpForwarder>(), sp.GetRequiredKeyedService<IForwarderHttpClientFactory>(direction), activityTimeout(sp), requests, logger);
            return new ProxyPipeline<TRequest>(sp.GetRequiredService<TDirection>(), forwarder, requests, sp.GetRequiredService<RawDataReporter>(), logger);
        });
        return services;
    }
}
