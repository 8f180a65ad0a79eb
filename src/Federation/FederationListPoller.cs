using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>Loads the persisted list at start, then refreshes it from the registration service on a schedule.</summary>
internal sealed class FederationListPoller(FederationListCache cache, IOptions<FederationOptions> options, TimeProvider time) : BackgroundService
{
    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // Before the listeners open, so the first request already meets the last good list.
        await cache.LoadPersistedAsync(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Enforce && string.IsNullOrEmpty(options.Value.RegistrationServiceUrl))
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await cache.RefreshAsync(stoppingToken);
                await Task.Delay(options.Value.PollInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
