using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Hosting.Startup;

/// <summary>Runs a service so that anything that stops it from starting ends the process with one readable line.</summary>
internal static class ServiceRunner
{
    /// <summary>
    /// Keeps the host's own "failed to start" log (with its stack trace) quiet until start-up is over; the
    /// runner prints one line instead. Afterwards the category logs as configured.
    /// </summary>
    public static void AddStartupLogGate(this WebApplicationBuilder builder)
    {
        var state = new StartupState();
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", level =>
            level >= LogLevel.Information && (state.Started || level < LogLevel.Error));
        builder.Services.AddSingleton(state);
    }

    /// <param name="name">Prefix of the error line, e.g. <c>messenger-proxy</c>.</param>
    /// <param name="build">Builds the application (configuration errors may surface here or at start).</param>
    /// <param name="beforeStart">Work that must succeed before listening, e.g. database migrations.</param>
    public static async Task<int> RunAsync(string name, Func<WebApplication> build, Func<WebApplication, Task>? beforeStart = null)
    {
        WebApplication? app = null;
        try
        {
            app = build();
            if (beforeStart is not null)
            {
                await beforeStart(app);
            }

            await app.StartAsync();
            if (app.Services.GetService<StartupState>() is { } state)
            {
                state.Started = true;
            }
        }
        catch (Exception ex)
        {
            await Console.Error.WriteLineAsync($"{name}: cannot start: {Describe(ex)}");
            if (app is not null)
            {
                await app.DisposeAsync();
            }

            return 1;
        }

        await app.WaitForShutdownAsync();
        await app.DisposeAsync();
        return 0;
    }

    /// <summary>Builds the application and runs one task with it instead of serving (e.g. database migrations).</summary>
    public static async Task<int> RunTaskAsync(string name, Func<WebApplication> build, Func<WebApplication, Task> task)
    {
        WebApplication? app = null;
        try
        {
            app = build();
            await task(app);
            return 0;
        }
        catch (Exception ex)
        {
            await Console.Error.WriteLineAsync($"{name}: {Describe(ex)}");
            return 1;
        }
        finally
        {
            if (app is not null)
            {
                await app.DisposeAsync();
            }
        }
    }

    public static string Describe(Exception ex)
    {
        // Wrappers (aggregate, target invocation) say less than what they wrap.
        while (ex is AggregateException { InnerException: { } } || ex is System.Reflection.TargetInvocationException { InnerException: { } })
        {
            ex = ex.InnerException!;
        }

        return ex is OptionsValidationException validation
            ? "invalid configuration: " + string.Join("; ", validation.Failures)
            : ex.Message.ReplaceLineEndings(" ");
    }

    private sealed class StartupState
    {
        public volatile bool Started;
    }
}
