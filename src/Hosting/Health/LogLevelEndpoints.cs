using System.Buffers;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MessengerProxy.Hosting.Configuration;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Hosting.Health;

/// <summary>
/// Runtime log levels on the health port, the reference's actuator paths:
/// <code>
///   GET    /actuator/logging/levels               accepted names and the levels changed now
///   PUT    /actuator/logging/{LEVEL}              root level                 202
///   PUT    /actuator/logging/{LEVEL}/{category}   one category and below it  202
///   DELETE /actuator/logging[/{category}]         back to the configured levels now (all, or one category; ROOT: the root)
/// </code>
/// A changed level returns to the configured one after <c>Health:LogLevels:ResetAfter</c>. Unknown level names and
/// malformed categories are 400 (the reference makes an unknown name DEBUG).
/// </summary>
internal sealed partial class LogLevelEndpoints : IActuatorEndpoint
{
    public const string BasePath = "/actuator/logging";

    string IActuatorEndpoint.Path => BasePath;

    Task IActuatorEndpoint.HandleAsync(HttpContext context) => InvokeAsync(context);

    private static readonly string[] s_accepted = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

    // Category names are type and namespace names, plus the hyphens of named HTTP clients.
    private static readonly SearchValues<char> s_categoryCharacters =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-+");

    private const int MaxCategoryLength = 256;

    private readonly LogLevelOverrides _overrides;
    private readonly byte[]? _token;
    private readonly ILogger _logger;

    public LogLevelEndpoints(LogLevelOverrides overrides, IOptions<LogLevelOptions> options, ILogger<LogLevelEndpoints> logger)
    {
        _overrides = overrides;
        _token = string.IsNullOrEmpty(options.Value.Token) ? null : Encoding.UTF8.GetBytes(options.Value.Token);
        _logger = logger;
    }

    /// <summary>Serves requests under <see cref="BasePath"/>; <paramref name="rest"/> is the path after it.</summary>
    public Task InvokeAsync(HttpContext context)
    {
        var rest = context.Request.Path.Value ?? string.Empty;
        var segments = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var method = context.Request.Method;

        if (_token is not null && !Authorized(context.Request.Headers.Authorization.ToString()))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
            return ErrorAsync(context, 401, "M_UNAUTHORIZED", "This endpoint needs the log level token (Authorization: Bearer …)");
        }

        switch (segments)
        {
            case ["levels"]:
                return HttpMethods.IsGet(method) ? LevelsAsync(context, 200) : NotAllowedAsync(context, "GET");
            case []:
                return HttpMethods.IsDelete(method) ? ResetAsync(context, category: null, all: true) : NotAllowedAsync(context, "DELETE");
            case [var level] when HttpMethods.IsPut(method):
                return SetAsync(context, level, category: null);
            case [var level, var category] when HttpMethods.IsPut(method):
                return SetAsync(context, level, category);
            case [var category] when HttpMethods.IsDelete(method):
                return IsRoot(category) ? ResetAsync(context, null, all: false)
                    : ValidCategory(category) ? ResetAsync(context, category, all: false)
                    : ErrorAsync(context, 400, "M_INVALID_PARAM", "A logger category consists of letters, digits and . _ - +");
            case [_] or [_, _]:
                return NotAllowedAsync(context, "PUT, DELETE");
            default:
                return ErrorAsync(context, 404, "M_NOT_FOUND", "Not a logging endpoint");
        }
    }

    private Task SetAsync(HttpContext context, string name, string? category)
    {
        if (ParseLevel(name) is not { } level)
        {
            return ErrorAsync(context, 400, "M_INVALID_PARAM", $"Unknown log level; accepted: {string.Join(", ", s_accepted)}");
        }

        if (category is not null && IsRoot(category))
        {
            category = null;
        }

        if (category is not null && !ValidCategory(category))
        {
            return ErrorAsync(context, 400, "M_INVALID_PARAM", "A logger category consists of letters, digits and . _ - +");
        }

        if (!_overrides.TrySet(category, level, out var set))
        {
            return ErrorAsync(context, 400, "M_LIMIT_EXCEEDED", "Too many categories changed at once; reset some first (DELETE /actuator/logging)");
        }

        LogChanged(_logger, category ?? "ROOT", level, set.ResetAt);
        return LevelsAsync(context, 202);
    }

    private Task ResetAsync(HttpContext context, string? category, bool all)
    {
        var removed = _overrides.Reset(category, all);
        LogResetNow(_logger, all ? "every category" : category ?? "ROOT", removed);
        return LevelsAsync(context, 200);
    }

    private Task LevelsAsync(HttpContext context, int status)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("acceptedValues");
            foreach (var name in s_accepted)
            {
                writer.WriteStringValue(name);
            }

            writer.WriteEndArray();
            writer.WriteNumber("resetAfterSeconds", (long)_overrides.ResetAfter.TotalSeconds);
            writer.WriteStartArray("levels");
            foreach (var change in _overrides.Current)
            {
                writer.WriteStartObject();
                writer.WriteString("logger", change.Category ?? "ROOT");
                writer.WriteString("level", Name(change.Level));
                writer.WriteString("resetAt", change.ResetAt.ToString("O", CultureInfo.InvariantCulture));
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        return WriteAsync(context, status, buffer.WrittenSpan.ToArray());
    }

    private static Task NotAllowedAsync(HttpContext context, string allow)
    {
        context.Response.Headers.Allow = allow;
        return ErrorAsync(context, 405, "M_UNRECOGNIZED", "Method not allowed here");
    }

    private static Task ErrorAsync(HttpContext context, int status, string errcode, string message) =>
        WriteAsync(context, status, JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["errcode"] = errcode, ["error"] = message }));

    private static Task WriteAsync(HttpContext context, int status, byte[] json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.Headers.CacheControl = "no-store";
        context.Response.ContentLength = json.Length;
        return context.Response.Body.WriteAsync(json, context.RequestAborted).AsTask();
    }

    private bool Authorized(string header)
    {
        const string Scheme = "Bearer ";
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var presented = Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(presented, _token);
    }

    private static LogLevel? ParseLevel(string name) => name.ToUpperInvariant() switch
    {
        "ERROR" => LogLevel.Error,
        "WARN" => LogLevel.Warning,
        "INFO" => LogLevel.Information,
        "DEBUG" => LogLevel.Debug,
        "TRACE" => LogLevel.Trace,
        _ => null,
    };

    private static string Name(LogLevel level) => level switch
    {
        LogLevel.Error => "ERROR",
        LogLevel.Warning => "WARN",
        LogLevel.Information => "INFO",
        LogLevel.Debug => "DEBUG",
        _ => "TRACE",
    };

    private static bool IsRoot(string category) => category.Equals("ROOT", StringComparison.OrdinalIgnoreCase);

    private static bool ValidCategory(string category) =>
        category.Length <= MaxCategoryLength && !category.AsSpan().ContainsAnyExcept(s_categoryCharacters);

    [LoggerMessage(2, LogLevel.Warning, "Log level of {Category} set to {Level} until {ResetAt:O}", EventName = "LogLevelChanged")]
    private static partial void LogChanged(ILogger logger, string category, LogLevel level, DateTimeOffset resetAt);

    [LoggerMessage(3, LogLevel.Information, "Log levels of {Target} reset to the configured ones ({Removed} removed)", EventName = "LogLevelResetNow")]
    private static partial void LogResetNow(ILogger logger, string target, int removed);
}

internal static class LogLevelServiceCollectionExtensions
{
    /// <summary>Runtime log levels for the health port (<see cref="LogLevelEndpoints"/>).</summary>
    public static IServiceCollection AddRuntimeLogLevels(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LogLevelOptions>().Bind(configuration.GetSection(LogLevelOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<LogLevelOptions>, LogLevelOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<LogLevelOverrides>();
        services.AddSingleton<IConfigureOptions<LoggerFilterOptions>>(sp => sp.GetRequiredService<LogLevelOverrides>());
        services.AddSingleton<IOptionsChangeTokenSource<LoggerFilterOptions>>(sp => sp.GetRequiredService<LogLevelOverrides>());
        services.AddSingleton<LogLevelEndpoints>();
        services.AddSingleton<IActuatorEndpoint>(sp => sp.GetRequiredService<LogLevelEndpoints>());
        return services;
    }
}

internal sealed class LogLevelOptionsValidator : IValidateOptions<LogLevelOptions>
{
    public ValidateOptionsResult Validate(string? name, LogLevelOptions options)
    {
        var errors = new OptionsErrors(LogLevelOptions.SectionName);
        errors.Positive(options.ResetAfter);
        errors.Positive(options.MaxOverrides);
        if (options.Token.Length is > 0 and < 16)
        {
            errors.Add($"{errors.Section}:Token must be at least 16 characters when set");
        }

        return errors.Result;
    }
}
