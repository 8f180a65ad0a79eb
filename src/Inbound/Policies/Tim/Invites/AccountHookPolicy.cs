using System.Text;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Hosting.Io;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Forwarding;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies.Tim.Invites;

/// <summary>
/// What passes through the proxy that the invite check must know of, and rule <c>permission-config-default</c>:
/// <list type="bullet">
/// <item><c>PUT …/user/{userId}/account_data/{type}</c> of a permission configuration type drops the user's cached
/// configuration (now, and again once the homeserver has answered);</item>
/// <item><c>/logout</c> drops the caller's cached token, <c>/logout/all</c> every cached token of its user;</item>
/// <item><c>GET …/user/{userId}/account_data/{type}</c> of a permission configuration type is read from the
/// homeserver with the caller's token; its 404 becomes 200 <c>{"defaultSetting":…}</c> with the configured default,
/// as the reference answers, and any other answer is relayed as it came.</item>
/// </list>
/// </summary>
internal sealed class AccountHookPolicy : IInboundPolicy
{

    // Account data events are bounded by the homeserver's body limit; the permission configuration is small.
    private const int MaxAccountDataBytes = 1024 * 1024;

    private readonly PermissionConfigStore _store;
    private readonly AccessTokenResolver _tokens;
    private readonly CallerRequests _requests;
    private readonly byte[] _defaultConfig;

    public AccountHookPolicy(PermissionConfigStore store, AccessTokenResolver tokens, CallerRequests requests, IOptions<TimOptions> tim)
    {
        _store = store;
        _tokens = tokens;
        _requests = requests;
        var setting = tim.Value.InvitePermissions.Default == PermissionDefault.AllowAll ? "allow all" : "block all";
        _defaultConfig = Encoding.UTF8.GetBytes($$"""{"defaultSetting":"{{setting}}"}""");
    }

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request)
    {
        if (request.IsPreflight)
        {
            return ValueTask.FromResult<MatrixError?>(null);
        }

        switch (request.Endpoint.Traits.TimAccount)
        {
            case TimAccountHook.PermissionConfigWrite when PermissionConfigUser(request) is { } user:
                _store.Forget(user);
                context.Response.OnStarting(() =>
                {
                    _store.Forget(user);
                    return Task.CompletedTask;
                });
                break;

            case TimAccountHook.Logout or TimAccountHook.LogoutAll:
                var all = request.Endpoint.Traits.TimAccount == TimAccountHook.LogoutAll;
                _tokens.Forget(context, request, all);
                break;

            case TimAccountHook.PermissionConfigRead when PermissionConfigUser(request) is not null:
                return ReadAsync(context, request);
        }

        return ValueTask.FromResult<MatrixError?>(null);
    }

    private async ValueTask<MatrixError?> ReadAsync(HttpContext context, InboundRequestFeature request)
    {
        // The target as the client sent it (identifiers and query, token included), so the homeserver reads what it would have.
        var answer = await _requests.GetAsync(context, request.Target.Raw, CallerRequests.Authorization(context), MaxAccountDataBytes, "account data");
        if (answer.Failure is { } failure)
        {
            return failure;
        }

        request.Answer = answer.Status == 404
            ? new LocalAnswer(200, "application/json", _defaultConfig)
            : new LocalAnswer(answer.Status, answer.ContentType?.ToString() ?? "application/json", answer.Body.ToArray());
        return null;
    }

    /// <summary>The decoded <c>{userId}</c> when <c>{type}</c> is a permission configuration type, else null.</summary>
    private static string? PermissionConfigUser(InboundRequestFeature request)
    {
        var template = request.Endpoint.Template;
        return template.TryGetParameter(request.Target.Path, "type", out var type)
            && PermissionConfigTypes.IsPermissionConfig(Uri.UnescapeDataString(type.ToString()))
            && template.TryGetParameter(request.Target.Path, "userId", out var user)
            ? Uri.UnescapeDataString(user.ToString())
            : null;
    }
}
