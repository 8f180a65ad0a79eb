using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>
/// Loads the persisted list and starts the first fetch before the listeners open, then refreshes the list
/// from the registration service every poll interval.
/// </summary>
internal sealed class FederationListPoller(FederationListCache cache, IOptions<FederationOptions> options, TimeProvider time) : BackgroundService
{
    private Task _initialFetch = Task.CompletedTask;

    private bool Configured => !string.IsNullOrEmpty(options.Value.RegistrationServiceUrl);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await cache.LoadPersistedAsync(cancellationToken);

        // Started, not awaited: a slow registration service must not hold up start-up, but requests that
        // arrive meanwhile join this fetch instead of starting their own.
        if (Configured)
        {
            _initialFetch = cache.RefreshAsync(CancellationToken.None);
        }

        await base.StartAsync(cancellationToken);
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);

        // Let a list that just arrived reach the disk before the process goes away.
        try
        {
            await cache.PersistedAsync().WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Configured)
        {
            return;
        }

        try
        {
            await _initialFetch.WaitAsync(stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(options.Value.PollInterval, time, stoppingToken);
                await cache.RefreshAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
