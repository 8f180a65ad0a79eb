using MessengerProxy.Host.Metrics;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MessengerProxy.Host.Health;

/// <summary>The pipeline of the health port: probes under the TIM reference's actuator paths, and metrics.</summary>
internal static class HealthEndpoints
{
    public const string LiveTag = "live";
    public const string ReadyTag = "ready";

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

        var exporter = app.ApplicationServices.GetRequiredService<PrometheusExporter>();
        app.Map("/metrics", metrics => metrics.Run(exporter.WriteAsync));

        app.Run(context =>
        {
            context.Response.StatusCode = 404;
            context.Response.ContentType = "application/json";
            return context.Response.Body.WriteAsync(new MatrixError(404, MatrixErrorCode.NotFound, "Not a health or metrics endpoint").ToUtf8Json()).AsTask();
        });
    }
}
