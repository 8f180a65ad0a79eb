using System.Diagnostics.Metrics;

namespace MessengerProxy.Inbound.Homeserver;

/// <summary>Counters of the invite check, the admin client and the orphaned-room cleanup (<c>messengerproxy_tim_*</c>).</summary>
internal sealed class TimMetrics
{
    public const string MeterName = "MessengerProxy.Tim";

    private readonly Counter<long> _adminLogins;
    private readonly Counter<long> _adminFailures;
    private readonly Counter<long> _inviteChecks;
    private readonly Counter<long> _inviteCheckFailures;
    private readonly Counter<long> _tokenLookups;
    private readonly Counter<long> _roomsExamined;
    private readonly Counter<long> _roomsDeleted;
    private readonly Counter<long> _roomsFailed;
    private readonly Counter<long> _roomsDryRun;
    private readonly Counter<long> _cleanupRuns;

    public TimMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _adminLogins = meter.CreateCounter<long>("admin_logins_total", description: "Password logins of the Synapse admin client (once, and again after a 401).");
        _adminFailures = meter.CreateCounter<long>("admin_failures_total", description: "Admin API requests that failed, by reason.");
        _inviteChecks = meter.CreateCounter<long>("invite_checks_total", description: "Invites checked against the invitee's permission configuration, by point and result.");
        _inviteCheckFailures = meter.CreateCounter<long>("invite_check_failures_total", description: "Invites refused because the permission configuration could not be read (fail closed), by reason.");
        _tokenLookups = meter.CreateCounter<long>("token_lookups_total", description: "Access token to user resolutions, by result (cached, resolved, refused, failed).");
        _roomsExamined = meter.CreateCounter<long>("orphaned_rooms_examined_total", description: "Rooms the orphaned-room cleanup looked at.");
        _roomsDeleted = meter.CreateCounter<long>("orphaned_rooms_deleted_total", description: "Orphaned rooms deleted (purged).");
        _roomsFailed = meter.CreateCounter<long>("orphaned_rooms_failed_total", description: "Orphaned rooms that could not be examined or deleted.");
        _roomsDryRun = meter.CreateCounter<long>("orphaned_rooms_dry_run_total", description: "Orphaned rooms a dry run would have deleted.");
        _cleanupRuns = meter.CreateCounter<long>("orphaned_room_runs_total", description: "Runs of the orphaned-room cleanup, by outcome.");
    }

    public void AdminLogin() => _adminLogins.Add(1);

    public void AdminFailure(string reason) => _adminFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void InviteChecked(string point, string result) => _inviteChecks.Add(1,
        new KeyValuePair<string, object?>("point", point), new KeyValuePair<string, object?>("result", result));

    public void InviteCheckFailed(string reason) => _inviteCheckFailures.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void TokenLookup(string result) => _tokenLookups.Add(1, new KeyValuePair<string, object?>("result", result));

    public void RoomExamined() => _roomsExamined.Add(1);

    public void RoomDeleted() => _roomsDeleted.Add(1);

    public void RoomFailed() => _roomsFailed.Add(1);

    public void RoomDryRun() => _roomsDryRun.Add(1);

    public void CleanupRun(string outcome) => _cleanupRuns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
}
