using MessengerProxy.Hosting.Logging;
using MessengerProxy.Tests.TestKit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.Hosting.Logging;

/// <summary>The guard raises the categories that log request targets to Warning and never lowers a stricter level.</summary>
public sealed class RequestTargetLogGuardTests
{
    private const string Forwarder = "Yarp.ReverseProxy.Forwarder.HttpForwarder";

    [Fact]
    public void UnderATraceDefault_GuardedCategoriesLogWarningsOnly_OthersEverything()
    {
        using var factory = Create(b => b.SetMinimumLevel(LogLevel.Trace));

        Assert.False(factory.CreateLogger(Forwarder).IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger(Forwarder).IsEnabled(LogLevel.Warning));
        Assert.False(factory.CreateLogger("System.Net.Http.HttpClient.tim-admin.LogicalHandler").IsEnabled(LogLevel.Information));
        Assert.False(factory.CreateLogger("Microsoft.AspNetCore.Hosting.Diagnostics").IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger("MessengerProxy.Inbound.Pipeline").IsEnabled(LogLevel.Trace));
        Assert.True(factory.CreateLogger("Microsoft.AspNetCore.Hosting.Lifetime").IsEnabled(LogLevel.Information));
    }

    [Fact]
    public void NamedRulesBelowWarning_AreRaised_ForTheCategoryAndBelowIt()
    {
        using var factory = Create(b => b
            .AddFilter("Yarp", LogLevel.Debug)
            .AddFilter(Forwarder, LogLevel.Trace)
            .AddFilter<LogCapture>("System.Net.Http", LogLevel.Trace));

        Assert.False(factory.CreateLogger(Forwarder).IsEnabled(LogLevel.Information));
        Assert.False(factory.CreateLogger("Yarp.ReverseProxy.Health").IsEnabled(LogLevel.Debug));
        Assert.False(factory.CreateLogger("System.Net.Http.HttpClient.Default.ClientHandler").IsEnabled(LogLevel.Information));
        Assert.True(factory.CreateLogger("Yarp.Other").IsEnabled(LogLevel.Debug));
    }

    [Fact]
    public void StricterConfiguredLevels_AreKept()
    {
        using var factory = Create(b => b.SetMinimumLevel(LogLevel.Debug).AddFilter("Yarp", LogLevel.Error).AddFilter("Microsoft.AspNetCore", LogLevel.None));

        Assert.False(factory.CreateLogger(Forwarder).IsEnabled(LogLevel.Warning));
        Assert.True(factory.CreateLogger(Forwarder).IsEnabled(LogLevel.Error));
        Assert.False(factory.CreateLogger("Microsoft.AspNetCore.Routing.EndpointMiddleware").IsEnabled(LogLevel.Critical));
    }

    private static ILoggerFactory Create(Action<ILoggingBuilder> configure)
    {
        var services = new ServiceCollection();
        services.AddLogging(b =>
        {
            b.AddProvider(new LogCapture());
            configure(b);
        });
        services.AddRequestTargetLogGuard();
        return services.BuildServiceProvider().GetRequiredService<ILoggerFactory>();
    }
}
