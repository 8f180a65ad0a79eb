using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace MessengerProxy.Hosting.Health;

/// <summary>Runtime log levels of the health port (configuration section <c>Health:LogLevels</c>).</summary>
internal sealed class LogLevelOptions
{
    public const string SectionName = "Health:LogLevels";

    /// <summary>A changed level returns to the configured one after this long (the reference's 1800 s).</summary>
    public TimeSpan ResetAfter { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>When set, every <c>/actuator/logging</c> request needs <c>Authorization: Bearer &lt;token&gt;</c>.</summary>
    public string Token { get; set; } = string.Empty;

    /// <summary>Categories changed at one time at most, so an open health port cannot grow the filter rules without bound.</summary>
    public int MaxOverrides { get; set; } = 64;
}

/// <summary>One level set at run time; <see cref="Category"/> is null for the root.</summary>
internal sealed record LogLevelOverride(string? Category, LogLevel Level, DateTimeOffset ResetAt);

/// <summary>
/// Levels changed at run time, laid over the configured <c>Logging</c> rules. The logger factory re-reads its
/// filter options whenever <see cref="GetChangeToken"/> fires, and <see cref="Configure"/> appends one rule per
/// override after the configured ones, for every provider that has rules of its own (a provider-specific rule
/// would otherwise beat a general one). So, as in the reference's Logback: the root level changes what the
/// configured default gave, a named category changes it and everything below it, and a category with a
/// configured level of its own keeps it under a root change. Each override has a timer (the process's
/// <see cref="TimeProvider"/>) that removes it after <see cref="LogLevelOptions.ResetAfter"/>.
/// </summary>
internal sealed partial class LogLevelOverrides : IConfigureOptions<LoggerFilterOptions>, IOptionsChangeTokenSource<LoggerFilterOptions>, IDisposable
{
    // The logger factory depends on these filter options, so loggers are resolved when needed, not injected.
    private readonly IServiceProvider _services;
    private readonly TimeProvider _time;
    private readonly LogLevelOptions _options;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _overrides = new(StringComparer.OrdinalIgnoreCase);
    private CancellationTokenSource _changed = new();
    private bool _disposed;

    public LogLevelOverrides(IServiceProvider services, TimeProvider time, IOptions<LogLevelOptions> options)
    {
        _services = services;
        _time = time;
        _options = options.Value;
    }

    public string? Name => Options.DefaultName;

    public TimeSpan ResetAfter => _options.ResetAfter;

    public IChangeToken GetChangeToken()
    {
        lock (_gate)
        {
            return new CancellationChangeToken(_changed.Token);
        }
    }

    public IReadOnlyList<LogLevelOverride> Current
    {
        get
        {
            lock (_gate)
            {
                return _overrides.Values.Select(e => e.Override).OrderBy(o => o.Category ?? string.Empty, StringComparer.Ordinal).ToList();
            }
        }
    }

    /// <summary>Sets a level until the reset delay has passed; false when <see cref="LogLevelOptions.MaxOverrides"/> other categories are changed already.</summary>
    public bool TrySet(string? category, LogLevel level, out LogLevelOverride set)
    {
        var key = category ?? string.Empty;
        set = new LogLevelOverride(category, level, _time.GetUtcNow() + _options.ResetAfter);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_overrides.TryGetValue(key, out var previous))
            {
                previous.Timer.Dispose();
            }
            else if (_overrides.Count >= _options.MaxOverrides)
            {
                return false;
            }

            var entry = new Entry(set);
            _overrides[key] = entry;
            entry.Timer = _time.CreateTimer(static state => ((Expiry)state!).Run(), new Expiry(this, key, entry), _options.ResetAfter, Timeout.InfiniteTimeSpan);
        }

        Changed();
        return true;
    }

    /// <summary>Removes the override of one category (null: the root), or of all when <paramref name="all"/>.</summary>
    public int Reset(string? category, bool all)
    {
        var removed = 0;
        lock (_gate)
        {
            foreach (var key in all ? _overrides.Keys.ToList() : [category ?? string.Empty])
            {
                if (_overrides.Remove(key, out var entry))
                {
                    entry.Timer.Dispose();
                    removed++;
                }
            }
        }

        if (removed > 0)
        {
            Changed();
        }

        return removed;
    }

    public void Configure(LoggerFilterOptions options)
    {
        List<LogLevelOverride> current;
        lock (_gate)
        {
            if (_overrides.Count == 0)
            {
                return;
            }

            current = _overrides.Values.Select(e => e.Override).ToList();
        }

        var providers = options.Rules.Select(r => r.ProviderName).Where(p => p is not null).Distinct(StringComparer.Ordinal).Prepend(null).ToList();
        foreach (var change in current)
        {
            if (change.Category is null)
            {
                options.MinLevel = change.Level;
            }

            foreach (var provider in providers)
            {
                options.Rules.Add(new LoggerFilterRule(provider, change.Category, change.Level, filter: null));
            }
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            foreach (var entry in _overrides.Values)
            {
                entry.Timer.Dispose();
            }

            _overrides.Clear();
            _changed.Dispose();
        }
    }

    private void Expire(string key, Entry entry)
    {
        lock (_gate)
        {
            // A newer level for the category replaced this one (and its timer) in the meantime.
            if (_disposed || !_overrides.TryGetValue(key, out var current) || !ReferenceEquals(current, entry))
            {
                return;
            }

            _overrides.Remove(key);
            entry.Timer.Dispose();
        }

        Changed();
        LogReset(_services.GetRequiredService<ILogger<LogLevelOverrides>>(), entry.Override.Category ?? "ROOT", entry.Override.Level);
    }

    // Outside the lock: cancelling runs the logger factory's reload, which calls Configure.
    private void Changed()
    {
        CancellationTokenSource previous;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            previous = _changed;
            _changed = new CancellationTokenSource();
        }

        previous.Cancel();
        previous.Dispose();
    }

    [LoggerMessage(1, LogLevel.Information, "Log level {Level} of {Category} expired; the configured level applies again", EventName = "LogLevelReset")]
    private static partial void LogReset(ILogger logger, string category, LogLevel level);

    private sealed class Entry(LogLevelOverride value)
    {
        public LogLevelOverride Override { get; } = value;

        public ITimer Timer { get; set; } = null!;
    }

    private sealed record Expiry(LogLevelOverrides Owner, string Key, Entry Entry)
    {
        public void Run() => Owner.Expire(Key, Entry);
    }
}
