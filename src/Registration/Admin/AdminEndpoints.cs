using System.Text;
using MessengerProxy.Persistence.Federation;
using MessengerProxy.Persistence.Support;
using MessengerProxy.Registration.Api;
using MessengerProxy.Registration.Validation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace MessengerProxy.Registration.Admin;

internal sealed record VersionBody(long version);

internal sealed record ImportBody(long version, long sourceVersion, int domainCount, string? signer);

internal sealed record ListInfoBody(long version, DateTimeOffset createdAt, string source, long? sourceVersion, string? signer, int domainCount);

/// <summary>
/// The operator's API under <c>/admin</c>: replace the list, add and remove single domains, import a signed
/// list, and manage support information. Each federation write creates exactly one new version.
/// </summary>
internal static class AdminEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        var admin = routes.MapGroup("/admin").AddEndpointFilter<AdminTokenFilter>();

        admin.MapGet("/federation", async (FederationListStore store, CancellationToken ct) =>
            await store.GetLatestVersionAsync(ct) is { } v
                ? Results.Json(new ListInfoBody(v.Version, v.CreatedAt, v.Source, v.SourceVersion, v.Signer, v.DomainCount), RegistrationJsonContext.Default.ListInfoBody)
                : ApiResults.Error(404, "M_NOT_FOUND", "No federation list has been stored yet"));

        admin.MapPut("/federation", async (HttpContext context, FederationListStore store) =>
        {
            if (!ApiResults.TryReadFlag(context, "allowEmpty", out var allowEmpty, out var badFlag))
            {
                return badFlag;
            }

            var (body, tooLarge) = await ApiResults.ReadBodyAsync(context);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            if (!FederationListJson.TryParseList(body, requireVersion: false, out var version, out var domains, out var error))
            {
                return ApiResults.BadJson(error);
            }

            if (version is not null)
            {
                return ApiResults.BadJson("version: assigned by the service; leave it out");
            }

            if (FederationListJson.EmptyListProblem(domains, allowEmpty) is { } empty)
            {
                return ApiResults.BadJson(empty);
            }

            var created = await store.ReplaceAsync(domains, new FederationListChange("admin:replace"), context.RequestAborted);
            return Results.Json(new VersionBody(created), RegistrationJsonContext.Default.VersionBody);
        });

        admin.MapPost("/federation/domains", async (HttpContext context, FederationListStore store) =>
        {
            var (body, tooLarge) = await ApiResults.ReadBodyAsync(context);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            if (!FederationListJson.TryParseDomain(body, out var domain, out var error))
            {
                return ApiResults.BadJson(error);
            }

            var result = await store.AddDomainAsync(domain, new FederationListChange("admin:add"), context.RequestAborted);
            return result.Status == FederationWriteStatus.AlreadyPresent
                ? ApiResults.Error(409, "M_UNKNOWN", $"domain: '{domain.Domain}' is already in the federation list")
                : Results.Json(new VersionBody(result.Version), RegistrationJsonContext.Default.VersionBody, statusCode: 201);
        });

        admin.MapDelete("/federation/domains/{domain}", async (string domain, HttpContext context, FederationListStore store) =>
        {
            if (!ApiResults.TryReadFlag(context, "allowEmpty", out var allowEmpty, out var badFlag))
            {
                return badFlag;
            }

            if (!DomainNames.TryNormalize(domain, out var normalized, out var error))
            {
                return ApiResults.BadJson($"domain: {error}");
            }

            var result = await store.RemoveDomainAsync(normalized, new FederationListChange("admin:remove"), allowEmpty, context.RequestAborted);
            return result.Status switch
            {
                FederationWriteStatus.NotFound => ApiResults.Error(404, "M_NOT_FOUND", $"domain: '{normalized}' is not in the federation list"),
                FederationWriteStatus.WouldLeaveListEmpty => ApiResults.Error(409, "M_UNKNOWN",
                    $"domain: '{normalized}' is the last domain; the proxies treat an empty list as unusable and suspend all federation (allowEmpty=true removes it deliberately)"),
                _ => Results.Json(new VersionBody(result.Version), RegistrationJsonContext.Default.VersionBody),
            };
        });

        admin.MapPost("/federation/import", async (HttpContext context, FederationListService service) =>
        {
            if (!ApiResults.TryReadFlag(context, "allowEmpty", out var allowEmpty, out var badFlag))
            {
                return badFlag;
            }

            var (body, tooLarge) = await ApiResults.ReadBodyAsync(context);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            // Latin-1 keeps one character per byte, so a byte that is not ASCII reaches the verifier as one
            // (and is refused by position) instead of turning into '?'.
            var outcome = await service.ImportAsync(Encoding.Latin1.GetString(body!), "admin:import", allowEmpty, context.RequestAborted);
            return outcome.Accepted
                ? Results.Json(new ImportBody(outcome.Version, outcome.SourceVersion, outcome.DomainCount, outcome.Signer), RegistrationJsonContext.Default.ImportBody)
                : ApiResults.Error(422, "M_INVALID_PARAM", "Signed federation list refused: " + outcome.Reason);
        });

        admin.MapGet("/support/{serverName}", async (string serverName, SupportStore store, CancellationToken ct) =>
            !DomainNames.TryNormalizeServerName(serverName, out var name)
                ? ApiResults.BadJson("serverName: not a Matrix server name")
                : await store.GetAsync(name, ct) is { } info
                    ? ApiResults.Json(SupportJson.Serialize(info))
                    : ApiResults.Error(404, "M_NOT_FOUND", $"No support information for '{name}'"));

        admin.MapPut("/support/{serverName}", async (string serverName, HttpContext context, SupportStore store) =>
        {
            if (!DomainNames.TryNormalizeServerName(serverName, out var name))
            {
                return ApiResults.BadJson("serverName: not a Matrix server name");
            }

            var (body, tooLarge) = await ApiResults.ReadBodyAsync(context);
            if (tooLarge is not null)
            {
                return tooLarge;
            }

            if (!SupportJson.TryParse(name, body, out var information, out var error))
            {
                return ApiResults.BadJson(error);
            }

            var created = await store.PutAsync(information, context.RequestAborted);
            return ApiResults.Json(SupportJson.Serialize(information), created ? 201 : 200);
        });

        admin.MapDelete("/support/{serverName}", async (string serverName, SupportStore store, CancellationToken ct) =>
            !DomainNames.TryNormalizeServerName(serverName, out var name)
                ? ApiResults.BadJson("serverName: not a Matrix server name")
                : await store.DeleteAsync(name, ct)
                    ? Results.NoContent()
                    : ApiResults.Error(404, "M_NOT_FOUND", $"No support information for '{name}'"));
    }
}
