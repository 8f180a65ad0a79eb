using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Hosting.Http;

/// <summary>
/// The one set-up of the HTTP clients a service uses for its own calls (the homeserver's internal URL, its admin
/// and userinfo APIs, the registration service, the raw-data collector, OCSP responders, the VZD), as opposed to the forwarding
/// clients of the two proxies (<c>UpstreamHttpClientFactory</c>).
/// </summary>
internal static class ServiceHttpClients
{
    /// <summary>
    /// A named client that goes straight to the configured URL (no system proxy unless <paramref name="useSystemProxy"/>:
    /// these are the deployment's own services, and an environment's <c>HTTPS_PROXY</c> must not divert them),
    /// follows no redirects (a redirect would carry credentials to wherever it points), keeps no cookies and adds
    /// no trace headers.
    /// </summary>
    /// <param name="timeout">The whole-request timeout, read from the caller's options; null where each call sets its own.</param>
    /// <param name="connectTimeout">The connect timeout, when the caller's options have one.</param>
    public static IHttpClientBuilder AddServiceHttpClient(
        this IServiceCollection services,
        string name,
        Func<IServiceProvider, TimeSpan>? timeout,
        Func<IServiceProvider, TimeSpan>? connectTimeout = null,
        bool useSystemProxy = false) =>
        services.AddHttpClient(name, (sp, client) =>
            {
                if (timeout is not null)
                {
                    client.Timeout = timeout(sp);
                }
            })
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var handler = new SocketsHttpHandler
                {
                    UseProxy = useSystemProxy,
                    AllowAutoRedirect = false,
                    UseCookies = false,
                    ActivityHeadersPropagator = null,
                };
                if (connectTimeout is not null)
                {
                    handler.ConnectTimeout = connectTimeout(sp);
                }

                return handler;
            });
}
