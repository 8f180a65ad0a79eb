using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.WellKnown;

/// <summary>
/// Warns at start-up when <c>WellKnown:Server</c> has no port. The server discovery rules then send other
/// servers to DNS SRV records of the host (Synapse looks them up) and, without any, to port 8448 — rarely
/// what an operator who wrote a delegation meant, and a slow failure when the SRV look-up times out.
/// </summary>
internal sealed class WellKnownStartupCheck : IHostedService
{
    private readonly IOptions<WellKnownOptions> _options;
    private readonly ILogger _logger;

    public WellKnownStartupCheck(IOptions<WellKnownOptions> options, ILogger<WellKnownStartupCheck> logger)
    {
        _options = options;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var server = _options.Value.Server;
        if (!string.IsNullOrEmpty(server) && ServerNames.TryGetHostAndPort(server, out _, out var port) && port is null)
        {
            Log.WellKnownServerWithoutPort(_logger, server, server + ":8448");
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
