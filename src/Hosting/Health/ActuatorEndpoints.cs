using System.Text;
using MessengerProxy.Hosting.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;

namespace MessengerProxy.Hosting.Health;

/// <summary>The pipeline of a health port: probes under the TIM reference's actuator paths, and metrics.</summary>
internal static class ActuatorEndpoints
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";

    private static readonly byte[] s_notFound = Encoding.UTF8.GetBytes("""{"errcode":"M_NOT_FOUND","error":"Not a health or metrics endpoint"}""");

    public static void Configure(IApplicationBuilder app)
    {
        app.UseHealthChecks("/actuator/health/liveness", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        });
        app.UseHealthChecks("/actuator/health/readiness", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(ReadyTag),
            ResponseWriter = HealthResponseWriter.WriteAsync,
        });
        app.UseHealthChecks("/actuator/health", new HealthCheckOptions { ResponseWriter = HealthResponseWriter.WriteAsync });

        // prometheus-net's own exporter middleware: text or OpenMetrics by the scraper's Accept header,
        // 503 when a collection fails, the host's registry only (not the library's process-wide default).
        var exporter = app.ApplicationServices.GetRequiredService<PrometheusExporter>();
        app.UseMetricServer("/metrics", exporter.Registry);
        foreach (var endpoint in app.ApplicationServices.GetServices<IActuatorEndpoint>())
        {
            app.Map(endpoint.Path, branch => branch.Run(endpoint.HandleAsync));
        }

        app.Run(context =>
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/json";
            return context.Response.Body.WriteAsync(s_notFound).AsTask();
        });
    }
}
