using System.Text.Json;
using MessengerProxy.Hosting.Health;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Homeserver;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Maintenance;

/// <summary>
/// Runs the orphaned-room cleanup <c>Tim:OrphanedRooms:FirstRunDelay</c> after start-up and then every
/// <c>Tim:OrphanedRooms:Interval</c>, while the rulebook and the job are enabled and admin credentials are
/// configured. A failed run is logged and counted; the next one runs on schedule.
/// </summary>
internal sealed class OrphanedRoomScheduler(
    OrphanedRoomCleanup cleanup,
    HomeserverAdminClient admin,
    IOptions<TimOptions> tim,
    TimeProvider time,
    ILogger<OrphanedRoomScheduler> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var options = tim.Value;
        if (!options.Enabled || !options.OrphanedRooms.Enabled)
        {
            return;
        }

        if (!admin.IsConfigured)
        {
            TimLog.CleanupSkipped(logger, "no admin credentials are configured (Tim:Admin)");
            return;
        }

        var delay = options.OrphanedRooms.FirstRunDelay;
        try
        {
            while (true)
            {
                await Task.Delay(delay, time, stoppingToken);
                delay = options.OrphanedRooms.Interval;
                try
                {
                    await cleanup.RunAsync(stoppingToken);
                }
                catch (CleanupFailedException)
                {
                    // Logged and counted by the run; the next one is on schedule.
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Whatever else went wrong must not end the host (a failed BackgroundService stops it).
                    TimLog.CleanupFailed(logger, ex.GetType().Name + ": " + ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}

/// <summary>
/// <c>POST /actuator/orphaned-rooms</c> on the health port: one cleanup run now, answered with its report
/// (<c>{"examined","orphaned","deleted","failed","dryRun"}</c>); 409 while a run is in progress, 503 when the job
/// cannot run (rulebook off, no admin credentials), 502 when the run failed.
/// </summary>
internal sealed class OrphanedRoomTrigger(OrphanedRoomCleanup cleanup, HomeserverAdminClient admin, IOptions<TimOptions> tim) : IActuatorEndpoint
{
    public string Path => "/actuator/orphaned-rooms";

    public async Task HandleAsync(HttpContext context)
    {
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            await MatrixResponses.WriteErrorAsync(context, MatrixError.MethodNotAllowed, "POST");
            return;
        }

        if (!tim.Value.Enabled || !admin.IsConfigured)
        {
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(503, MatrixErrorCode.Unknown,
                "The orphaned-room cleanup cannot run: it needs Tim:Enabled and admin credentials (Tim:Admin)"));
            return;
        }

        CleanupReport? report;
        try
        {
            report = await cleanup.RunAsync(context.RequestAborted);
        }
        catch (CleanupFailedException ex)
        {
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(502, MatrixErrorCode.Unknown, "The cleanup run failed: " + ex.Message));
            return;
        }

        if (report is null)
        {
            await MatrixResponses.WriteErrorAsync(context, new MatrixError(409, MatrixErrorCode.Unknown, "A cleanup run is already in progress"));
            return;
        }

        await MatrixResponses.WriteJsonAsync(context, JsonSerializer.SerializeToUtf8Bytes(new
        {
            examined = report.Examined,
            orphaned = report.Orphaned,
            deleted = report.Deleted,
            failed = report.Failed,
            dryRun = report.DryRun,
        }));
    }
}
