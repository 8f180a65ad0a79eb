using System.Globalization;
using MessengerProxy.Persistence.Support;
using MessengerProxy.Registration.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Registration.Api;

/// <summary>The API the proxies use (the TIM reference's paths): the federation list and support information.</summary>
internal static class ProxyApiEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        // 200 with the latest list, or 304 when the caller already holds it (?version= or If-None-Match).
        routes.MapGet("/backend/federation", async (HttpContext context, FederationListService service) =>
        {
            var latest = await service.GetLatestAsync(context.RequestAborted);
            if (latest is null)
            {
                return ApiResults.Error(404, "M_NOT_FOUND", "No federation list has been stored yet");
            }

            var (version, json) = latest.Value;
            var etag = $"\"{version.ToString(CultureInfo.InvariantCulture)}\"";
            context.Response.Headers.ETag = etag;
            context.Response.Headers.CacheControl = "no-cache";

            if (VersionQueryProblem(context) is { } problem)
            {
                return problem;
            }

            return IsHeld(context, version, etag) ? Results.StatusCode(304) : ApiResults.Json(json);
        });

        // The newest VZD import exactly as signed, for proxies that verify the list themselves (Federation:
        // AllowUnsignedList=false). ?version= and the ETag are the VZD's version number, not this service's.
        routes.MapGet("/backend/federation.jws", async (HttpContext context, FederationListService service) =>
        {
            if (VersionQueryProblem(context) is { } problem)
            {
                return problem;
            }

            var signed = await service.GetLatestSignedAsync(context.RequestAborted);
            if (signed is null)
            {
                return ApiResults.Error(404, "M_NOT_FOUND", "No signed federation list has been imported yet");
            }

            var etag = $"\"vzd-{signed.SourceVersion.ToString(CultureInfo.InvariantCulture)}\"";
            context.Response.Headers.ETag = etag;
            context.Response.Headers.CacheControl = "no-cache";
            return IsHeld(context, signed.SourceVersion, etag)
                ? Results.StatusCode(304)
                : Results.Text(signed.Jws, "application/jose", System.Text.Encoding.ASCII);
        });

        routes.MapGet("/backend/well-known-support/{serverName}", async (string serverName, SupportStore store, CancellationToken ct) =>
            !DomainNames.TryNormalizeServerName(serverName, out var name)
                ? ApiResults.Error(400, "M_INVALID_PARAM", "serverName: not a Matrix server name")
                : await store.GetAsync(name, ct) is { } info
                    ? ApiResults.Json(SupportJson.Serialize(info))
                    : ApiResults.Error(404, "M_NOT_FOUND", $"No support information for '{name}'"));
    }

    private static IResult? VersionQueryProblem(HttpContext context)
    {
        var query = context.Request.Query["version"];
        return query.Count > 1 || (query.Count == 1 && !long.TryParse(query[0], NumberStyles.None, CultureInfo.InvariantCulture, out _))
            ? ApiResults.Error(400, "M_INVALID_PARAM", "version: must be a non-negative integer")
            : null;
    }

    /// <summary>The caller already holds <paramref name="version"/> (<c>?version=</c> or <c>If-None-Match</c>).</summary>
    private static bool IsHeld(HttpContext context, long version, string etag)
    {
        var query = context.Request.Query["version"];
        return (query.Count == 1 && long.Parse(query[0]!, CultureInfo.InvariantCulture) == version)
            || context.Request.Headers[HeaderNames.IfNoneMatch].Any(v => v == etag);
    }
}
