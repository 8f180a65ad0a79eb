using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Homeserver;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Maintenance;

/// <summary>What one cleanup run found and did.</summary>
internal sealed record CleanupReport(int Examined, int Orphaned, int Deleted, int Failed, bool DryRun);

/// <summary>
/// The orphaned-room cleanup (A_28564-01), through the homeserver's admin API. A run first lists every room, page by
/// page, and keeps the candidates (at most one joined member), so that deleting cannot shift the pages it has
/// still to read; then, room by room, a candidate is orphaned when nobody but its creator is joined, <b>every</b>
/// event of the room is a state event (the whole timeline is paged, not the last 50 events) and the newest is older
/// than <c>Tim:OrphanedRooms:Threshold</c>. An orphaned room is deleted with the asynchronous admin API
/// (<c>DELETE /_synapse/admin/v2/rooms/{roomId}</c>, purged, not blocked) and its status polled until it completes,
/// fails or times out; in a dry run it is only logged. Runs never overlap: one that is asked for while another runs
/// is skipped.
/// </summary>
internal sealed class OrphanedRoomCleanup
{
    private const int MaxPageBytes = 16 * 1024 * 1024;
    private const int EventsPerPage = 100;

    private readonly HomeserverAdminClient _admin;
    private readonly TimeProvider _time;
    private readonly TimMetrics _metrics;
    private readonly ILogger _logger;
    private readonly OrphanedRoomOptions _options;
    private int _running;

    public OrphanedRoomCleanup(HomeserverAdminClient admin, IOptions<TimOptions> tim, TimeProvider time, TimMetrics metrics, ILogger<OrphanedRoomCleanup> logger)
    {
        _admin = admin;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        _options = tim.Value.OrphanedRooms;
    }

    public bool IsRunning => Volatile.Read(ref _running) == 1;

    /// <summary>One run; null when another is still running (nothing is done then).</summary>
    public async Task<CleanupReport?> RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref _running, 1, 0) != 0)
        {
            TimLog.CleanupSkipped(_logger, "another run is still in progress");
            _metrics.CleanupRun("skipped");
            return null;
        }

        try
        {
            TimLog.CleanupStarted(_logger, _options.Threshold, _options.DryRun);
            var report = await RunExclusiveAsync(cancellationToken);
            TimLog.CleanupFinished(_logger, report.Examined, report.Orphaned, report.Deleted, report.Failed);
            _metrics.CleanupRun(report.Failed == 0 ? "completed" : "completed_with_failures");
            return report;
        }
        catch (CleanupFailedException ex)
        {
            TimLog.CleanupFailed(_logger, ex.Message);
            _metrics.CleanupRun("failed");
            throw;
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    private async Task<CleanupReport> RunExclusiveAsync(CancellationToken cancellationToken)
    {
        var (examined, candidates) = await ListCandidatesAsync(cancellationToken);
        int orphaned = 0, deleted = 0, failed = 0;
        foreach (var (roomId, creator) in candidates)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                if (await OrphanedSinceAsync(roomId, creator, cancellationToken) is not { } age)
                {
                    continue;
                }

                orphaned++;
                if (_options.DryRun)
                {
                    _metrics.RoomDryRun();
                    TimLog.CleanupWouldDelete(_logger, age);
                    continue;
                }

                await DeleteAsync(roomId, cancellationToken);
                deleted++;
                _metrics.RoomDeleted();
            }
            catch (CleanupFailedException ex)
            {
                failed++;
                _metrics.RoomFailed();
                TimLog.CleanupRoomFailed(_logger, ex.Message);
            }
        }

        return new CleanupReport(examined, orphaned, deleted, failed, _options.DryRun);
    }

    /// <summary>Every room of the homeserver, all pages, before anything is deleted; candidates have at most one joined member.</summary>
    private async Task<(int Examined, List<(string RoomId, string? Creator)> Candidates)> ListCandidatesAsync(CancellationToken cancellationToken)
    {
        var candidates = new List<(string, string?)>();
        var examined = 0;
        long? from = 0;
        var seen = new HashSet<long>();
        while (from is { } offset)
        {
            if (!seen.Add(offset))
            {
                throw new CleanupFailedException("the room list's next_batch repeats itself");
            }

            using var page = await GetJsonAsync($"/_synapse/admin/v1/rooms?limit={_options.PageSize}&from={offset}&order_by=name&dir=f", "list rooms", cancellationToken);
            var root = page.RootElement;
            if (!root.TryGetProperty("rooms", out var rooms) || rooms.ValueKind != JsonValueKind.Array)
            {
                throw new CleanupFailedException("the room list has no rooms array");
            }

            foreach (var room in rooms.EnumerateArray())
            {
                examined++;
                _metrics.RoomExamined();
                if (room.ValueKind == JsonValueKind.Object
                    && room.TryGetProperty("room_id", out var id) && id.ValueKind == JsonValueKind.String
                    && room.TryGetProperty("joined_members", out var joined) && joined.ValueKind == JsonValueKind.Number && joined.TryGetInt32(out var count) && count <= 1)
                {
                    var creator = room.TryGetProperty("creator", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                    candidates.Add((id.GetString()!, creator));
                }
            }

            from = root.TryGetProperty("next_batch", out var next) ? next.ValueKind switch
            {
                JsonValueKind.Number when next.TryGetInt64(out var n) => n,
                JsonValueKind.String when long.TryParse(next.GetString(), out var n) => n,
                _ => null,
            } : null;
        }

        return (examined, candidates);
    }

    /// <summary>How long ago the newest event was, when the room is orphaned; null when it is kept.</summary>
    private async Task<TimeSpan?> OrphanedSinceAsync(string roomId, string? creator, CancellationToken cancellationToken)
    {
        var room = Uri.EscapeDataString(roomId);
        using (var members = await GetJsonAsync($"/_synapse/admin/v1/rooms/{room}/members", "room members", cancellationToken))
        {
            if (!members.RootElement.TryGetProperty("members", out var list) || list.ValueKind != JsonValueKind.Array)
            {
                throw new CleanupFailedException("the member list has no members array");
            }

            foreach (var member in list.EnumerateArray())
            {
                if (member.ValueKind != JsonValueKind.String || member.GetString() != creator)
                {
                    return null;
                }
            }
        }

        long? newest = null;
        string? from = null;
        while (true)
        {
            var query = $"/_synapse/admin/v1/rooms/{room}/messages?dir=b&limit={EventsPerPage}" + (from is null ? string.Empty : "&from=" + Uri.EscapeDataString(from));
            using var page = await GetJsonAsync(query, "room messages", cancellationToken);
            var root = page.RootElement;
            if (!root.TryGetProperty("chunk", out var chunk) || chunk.ValueKind != JsonValueKind.Array)
            {
                throw new CleanupFailedException("the messages answer has no chunk array");
            }

            foreach (var @event in chunk.EnumerateArray())
            {
                // One event that is not a state event (a message, a reaction, a redaction) keeps the room, however old.
                if (@event.ValueKind != JsonValueKind.Object || !@event.TryGetProperty("state_key", out _))
                {
                    return null;
                }

                if (newest is null)
                {
                    if (!@event.TryGetProperty("origin_server_ts", out var ts) || ts.ValueKind != JsonValueKind.Number || !ts.TryGetInt64(out var value))
                    {
                        throw new CleanupFailedException("an event has no origin_server_ts");
                    }

                    newest = value;
                    if (Age(value) < _options.Threshold)
                    {
                        return null;
                    }
                }
            }

            var next = root.TryGetProperty("end", out var end) && end.ValueKind == JsonValueKind.String ? end.GetString() : null;
            if (chunk.GetArrayLength() == 0 || next is null || next == from)
            {
                break;
            }

            from = next;
        }

        return newest is { } ms ? Age(ms) : null;
    }

    private TimeSpan Age(long originServerTs) => _time.GetUtcNow() - DateTimeOffset.FromUnixTimeMilliseconds(originServerTs);

    private async Task DeleteAsync(string roomId, CancellationToken cancellationToken)
    {
        var response = await _admin.SendAsync(HttpMethod.Delete, $"/_synapse/admin/v2/rooms/{Uri.EscapeDataString(roomId)}",
            """{"purge":true,"block":false}"""u8.ToArray(), MaxPageBytes, cancellationToken);
        var deleteId = response.IsSuccess ? ReadString(response.Body, "delete_id") : null;
        if (deleteId is null)
        {
            throw new CleanupFailedException(response.Failure != AdminFailure.None ? response.Detail : $"the deletion was answered {response.Status}");
        }

        var deadline = _time.GetUtcNow() + _options.DeleteTimeout;
        while (true)
        {
            using var status = await GetJsonAsync($"/_synapse/admin/v2/rooms/delete_status/{Uri.EscapeDataString(deleteId)}", "deletion status", cancellationToken);
            var state = status.RootElement.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            switch (state)
            {
                case "complete":
                    return;
                case "failed":
                    throw new CleanupFailedException("the homeserver reports the deletion failed");
            }

            if (_time.GetUtcNow() >= deadline)
            {
                throw new CleanupFailedException($"the deletion did not complete within {_options.DeleteTimeout}");
            }

            await Task.Delay(_options.StatusPollInterval, _time, cancellationToken);
        }
    }

    private async Task<JsonDocument> GetJsonAsync(string pathAndQuery, string what, CancellationToken cancellationToken)
    {
        var response = await _admin.SendAsync(HttpMethod.Get, pathAndQuery, null, MaxPageBytes, cancellationToken);
        if (response.Failure != AdminFailure.None)
        {
            throw new CleanupFailedException($"{what}: {response.Detail}");
        }

        if (!response.IsSuccess)
        {
            throw new CleanupFailedException($"{what}: the homeserver answered {response.Status}");
        }

        try
        {
            var document = JsonDocument.Parse(response.Body);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new CleanupFailedException($"{what}: the answer is not a JSON object");
            }

            return document;
        }
        catch (JsonException)
        {
            throw new CleanupFailedException($"{what}: the answer is not JSON");
        }
    }

    private static string? ReadString(ReadOnlyMemory<byte> body, string member)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty(member, out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}

/// <summary>A cleanup step that could not be done; its message names the step and the reason, never a room.</summary>
internal sealed class CleanupFailedException(string message) : Exception(message);
