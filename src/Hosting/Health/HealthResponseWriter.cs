using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessengerProxy.Hosting.Health;

/// <summary>Writes a health report as JSON naming every dependency with its state.</summary>
internal static class HealthResponseWriter
{
    // Health output is read by people and monitoring, never embedded in HTML: no need to escape '+' or '<'.
    private static readonly JsonWriterOptions s_writerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions s_serializerOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        using var buffer = new MemoryStream();
        await using var writer = new Utf8JsonWriter(buffer, s_writerOptions);
        writer.WriteStartObject();
        writer.WriteString("status", StatusText(report.Status));
        writer.WriteNumber("totalDurationMs", Math.Round(report.TotalDuration.TotalMilliseconds, 1));
        writer.WriteStartObject("components");
        foreach (var (name, entry) in report.Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            writer.WriteStartObject(name);
            writer.WriteString("status", StatusText(entry.Status));
            if (entry.Description is not null)
            {
                writer.WriteString("description", entry.Description);
            }

            writer.WriteNumber("durationMs", Math.Round(entry.Duration.TotalMilliseconds, 1));
            if (entry.Data.Count > 0)
            {
                writer.WriteStartObject("details");
                foreach (var (key, value) in entry.Data)
                {
                    writer.WritePropertyName(key);
                    JsonSerializer.Serialize(writer, value, value?.GetType() ?? typeof(object), s_serializerOptions);
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted);
        context.Response.ContentLength = buffer.Length;
        await context.Response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted);
    }

    // The TIM reference's actuator speaks Spring Boot's vocabulary; monitoring built for it keeps working.
    private static string StatusText(HealthStatus status) => status switch
    {
        HealthStatus.Healthy => "UP",
        HealthStatus.Degraded => "DEGRADED",
        _ => "DOWN",
    };
}
