using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Hosting.Logging;

/// <summary>
/// Keeps the framework categories that write request targets at <see cref="LogLevel.Warning"/> or above, whatever
/// the configuration or a runtime level change says. Their Information and Debug events carry the whole target
/// (YARP's "Proxying to", ASP.NET Core's "Request starting", HttpClient's "Start processing", Kestrel's bad-request
/// lines), and a Matrix target holds access tokens in the query and user, room and event IDs in the path.
/// </summary>
/// <remarks>
/// Runs after every <see cref="IConfigureOptions{TOptions}"/>, so also after the runtime overrides, each time the
/// logger factory reloads its filter options. The logger factory picks one rule per category (the provider's own
/// before the general ones, then the longest category prefix), so the guard both raises every rule inside a guarded
/// category and adds a rule for the category itself that is never lower than what the less specific rules gave.
/// </remarks>
internal sealed class RequestTargetLogGuard : IPostConfigureOptions<LoggerFilterOptions>
{
    internal const LogLevel Floor = LogLevel.Warning;

    internal static readonly string[] Categories =
    [
        "Yarp.ReverseProxy",
        "Microsoft.AspNetCore.Hosting.Diagnostics",
        "Microsoft.AspNetCore.Server.Kestrel.BadRequests",
        "Microsoft.AspNetCore.Routing",
        "System.Net.Http.HttpClient",
    ];

    public void PostConfigure(string? name, LoggerFilterOptions options)
    {
        var rules = options.Rules;
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule.CategoryName is { } category && IsGuarded(category) && !(rule.LogLevel >= Floor))
            {
                rules[i] = new LoggerFilterRule(rule.ProviderName, category, Floor, rule.Filter);
            }
        }

        var providers = rules.Select(r => r.ProviderName).Where(p => p is not null).Distinct(StringComparer.OrdinalIgnoreCase).Prepend(null).ToList();
        foreach (var provider in providers)
        {
            foreach (var category in Categories)
            {
                if (rules.Any(r => Same(r.ProviderName, provider) && Same(r.CategoryName, category)))
                {
                    continue;
                }

                var inherited = Inherited(rules, provider, category) ?? options.MinLevel;
                rules.Add(new LoggerFilterRule(provider, category, inherited > Floor ? inherited : Floor, filter: null));
            }
        }
    }

    private static bool IsGuarded(string category) =>
        Categories.Any(g => category.StartsWith(g, StringComparison.OrdinalIgnoreCase)
            && (category.Length == g.Length || category[g.Length] is '.' or '*'));

    /// <summary>The level the rules less specific than <paramref name="category"/> give it for the provider (wildcard rules aside).</summary>
    private static LogLevel? Inherited(IList<LoggerFilterRule> rules, string? provider, string category)
    {
        LoggerFilterRule? best = null;
        foreach (var rule in rules)
        {
            if (rule.ProviderName is not null && !Same(rule.ProviderName, provider))
            {
                continue;
            }

            if (rule.CategoryName is { } prefix
                && (prefix.Contains('*') || !category.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)
                    || (prefix.Length < category.Length && category[prefix.Length] != '.')))
            {
                continue;
            }

            if (best is null || Better(rule, best))
            {
                best = rule;
            }
        }

        return best?.LogLevel;
    }

    // The logger factory's order: a provider's own rule before a general one, then the longer category; later wins ties.
    private static bool Better(LoggerFilterRule candidate, LoggerFilterRule current)
    {
        if ((candidate.ProviderName is null) != (current.ProviderName is null))
        {
            return candidate.ProviderName is not null;
        }

        return (candidate.CategoryName?.Length ?? 0) >= (current.CategoryName?.Length ?? 0);
    }

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}

internal static class RequestTargetLogGuardExtensions
{
    /// <summary>Framework categories that log request targets never log below Warning (see <see cref="RequestTargetLogGuard"/>).</summary>
    public static IServiceCollection AddRequestTargetLogGuard(this IServiceCollection services)
    {
        services.AddSingleton<IPostConfigureOptions<LoggerFilterOptions>, RequestTargetLogGuard>();
        return services;
    }
}
