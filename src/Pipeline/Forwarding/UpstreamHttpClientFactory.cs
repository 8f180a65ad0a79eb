using MessengerProxy.Pipeline.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline.Forwarding;

/// <summary>What differs between the two proxies' upstream connection pools.</summary>
internal sealed record UpstreamClientSettings(TimeSpan ConnectTimeout, TimeSpan PooledConnectionIdleTimeout, TimeSpan PooledConnectionLifetime);

/// <summary>
/// The one place an upstream <see cref="SocketsHttpHandler"/> is configured, for both proxies: YARP's factory
/// (no proxy, no redirects, no decompression, no cookies) without trace headers, with the pool lifetimes of the
/// direction, and wrapped in <see cref="SwitchingProtocolsGuard"/>. The outbound proxy adds its verified
/// connect and TLS in <see cref="ConfigureHandler"/>. Registered per direction as a keyed
/// <see cref="IForwarderHttpClientFactory"/>, so a test can put a fake handler under a whole pipeline, as
/// YARP's own tests do.
/// </summary>
internal class UpstreamHttpClientFactory(UpstreamClientSettings settings) : ForwarderHttpClientFactory
{
    /// <summary>Creates the direction's one pooled client.</summary>
    public static HttpMessageInvoker CreateClient(IForwarderHttpClientFactory factory) =>
        factory.CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty });

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);

        // No trace headers are added: upstream sees the client's headers (plus X-Forwarded-* inbound) and nothing else.
        handler.ActivityHeadersPropagator = null;
        handler.ConnectTimeout = settings.ConnectTimeout;
        handler.PooledConnectionIdleTimeout = settings.PooledConnectionIdleTimeout;
        handler.PooledConnectionLifetime = settings.PooledConnectionLifetime;
    }

    // A 101 would turn the client's connection into an unchecked pipe: refused as the upstream's failure.
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        new SwitchingProtocolsGuard(base.WrapHandler(context, handler));
}
