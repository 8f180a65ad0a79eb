using MessengerProxy.Federation;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Inbound.Maintenance;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Inbound.Policies;
using MessengerProxy.Inbound.Policies.Tim;
using MessengerProxy.Inbound.Policies.Tim.Invites;
using MessengerProxy.Inbound.ServerKeys;
using MessengerProxy.Inbound.WellKnown;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Hosting.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound;

internal static class InboundServiceCollectionExtensions
{
    /// <summary>Registers the inbound proxy with options bound from configuration and validated at start-up.</summary>
    public static IServiceCollection AddInboundProxy(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddFederationList(configuration);
        var inbound = configuration.GetSection(InboundOptions.SectionName);
        services.AddOptions<InboundOptions>().Bind(inbound)
            .PostConfigure(options => options.ExplicitSingleListenerKeys =
                InboundOptions.SingleListenerKeys.Where(key => !string.IsNullOrEmpty(inbound[key])).Select(key => $"{InboundOptions.SectionName}:{key}").ToList())
            .ValidateOnStart();
        services.AddOptions<WellKnownOptions>().Bind(configuration.GetSection(WellKnownOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<InboundOptions>, InboundOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<WellKnownOptions>, WellKnownOptionsValidator>());
        services.AddOptions<TimOptions>().Bind(configuration.GetSection(TimOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TimOptions>, TimOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<TimOptions>, TimInviteOptionsValidator>());
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<TimOptions>>().Value.ToRulebook());
        services.AddSingleton(_ => EmojiTable.Load());

        services.AddMetrics();
        services.AddSingleton<InboundMetrics>();
        services.AddSingleton<InboundEndpoints>();
        services.AddSingleton<ForwardedHeaders>();
        services.AddSingleton<VersionsRewriter>();
        services.AddSingleton<InboundRoutes>();
        services.AddSingleton<WellKnownHandler>();
        services.AddHostedService<WellKnownStartupCheck>();
        services.AddProxyPipeline<InboundRequestFeature, InboundDirection>(
            PipelineDirection.Inbound,
            sp => new UpstreamHttpClientFactory(new UpstreamClientSettings(
                sp.GetRequiredService<IOptions<InboundOptions>>().Value.UpstreamConnectTimeout,
                PooledConnectionIdleTimeout: TimeSpan.FromSeconds(50),
                PooledConnectionLifetime: TimeSpan.FromMinutes(10))),
            sp => sp.GetRequiredService<IOptions<InboundOptions>>().Value.UpstreamTimeout,
            sp => sp.GetRequiredService<InboundMetrics>().Requests);

        // Their order is InboundPolicies'.
        services.AddSingleton<TimAnswerPolicy>();
        services.AddSingleton<BodySizePolicy>();
        services.AddSingleton<AccessTokenPresencePolicy>();
        services.AddSingleton<XMatrixOriginPolicy>();
        services.AddSingleton<GuestRegistrationPolicy>();
        services.AddSingleton<RequestBodyStage>();
        services.AddSingleton<XMatrixSignaturePolicy>();
        services.AddSingleton<ServerKeyStore>();
        services.AddSingleton<ClientDomainPolicy>();
        services.AddSingleton<TransactionDomainPolicy>();
        services.AddSingleton<TimContentPolicy>();
        services.AddSingleton<RedactionWindowPolicy>();
        services.AddSingleton<InvitePermissionPolicy>();
        services.AddSingleton<AccountHookPolicy>();
        services.AddSingleton<InboundPolicies>();

        // TIM rulebook 2: who is calling, the admin API, the permission configurations, the orphaned-room cleanup.
        services.AddSingleton<TimMetrics>();
        services.AddSingleton<CallerRequests>();
        services.AddSingleton<AccessTokenResolver>();
        services.AddSingleton<HomeserverAdminClient>();
        services.AddHostedService<AdminSessionCloser>();
        services.AddSingleton<PermissionConfigStore>();
        services.AddSingleton<OrphanedRoomCleanup>();
        services.AddHostedService<OrphanedRoomScheduler>();
        services.AddSingleton<IActuatorEndpoint, OrphanedRoomTrigger>();
        services.AddHealthChecks().AddCheck<HomeserverAdminHealthCheck>("homeserver-admin", tags: [ActuatorEndpoints.ReadyTag]);
        // The admin API has credentials and a timeout of its own; the caller's requests (whoami, account data,
        // the event to redact) go through the inbound upstream client factory (CallerRequests).
        services.AddServiceHttpClient(
            HomeserverAdminClient.HttpClientName,
            sp => sp.GetRequiredService<IOptions<TimOptions>>().Value.Admin.Timeout,
            sp => sp.GetRequiredService<IOptions<InboundOptions>>().Value.UpstreamConnectTimeout);

        // The notary asked for other servers' keys is the homeserver (or one named in Federation:KeyNotaryUrl), internal.
        services.AddServiceHttpClient(
            ServerKeyStore.HttpClientName,
            sp => sp.GetRequiredService<IOptions<FederationOptions>>().Value.RequestTimeout,
            sp => sp.GetRequiredService<IOptions<InboundOptions>>().Value.UpstreamConnectTimeout);

        // The support document may live outside the deployment, so this one may go through the system proxy.
        services.AddServiceHttpClient(WellKnownHandler.SupportHttpClient, sp => sp.GetRequiredService<IOptions<WellKnownOptions>>().Value.SupportTimeout, useSystemProxy: true);

        return services;
    }

    /// <summary>Ends a pipeline branch in the inbound proxy.</summary>
    public static void RunInboundProxy(this IApplicationBuilder app)
    {
        var pipeline = app.ApplicationServices.GetRequiredService<ProxyPipeline<InboundRequestFeature>>();
        app.Run(pipeline.InvokeAsync);
    }
}
