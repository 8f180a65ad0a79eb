using System.Threading.Channels;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>When a reported request arrived: the record's <c>start</c>, and the timestamp its duration is measured from.</summary>
internal readonly record struct RawDataArrival(DateTimeOffset Start, long Timestamp);

/// <summary>
/// The raw-data observer both pipelines call: <see cref="ProxyPipeline{TRequest}"/> notes the arrival of every request
/// (while reporting is on), counts the body bytes of those whose endpoint has a raw-data operation in its traits, and
/// hands each of them here once its response is complete. The record goes into a bounded queue the
/// <see cref="RawDataSender"/> empties; the request never waits for the collector, and a full queue drops its oldest
/// record (counted), never the request.
/// </summary>
internal sealed class RawDataReporter
{
    private readonly Channel<RawDataRecord>? _queue;
    private readonly RawDataMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ServerName _organisation;
    private int _dropsSinceSent;

    public RawDataReporter(IOptions<RawDataOptions> options, RawDataMetrics metrics, TimeProvider time, ILogger<RawDataReporter> logger)
    {
        var settings = options.Value;
        _metrics = metrics;
        _time = time;
        _logger = logger;
        Enabled = settings.Enabled && ServerName.TryParse(settings.MatrixDomain, out _organisation);
        if (Enabled)
        {
            _queue = Channel.CreateBounded<RawDataRecord>(
                new BoundedChannelOptions(settings.QueueCapacity) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true },
                OnDropped);
        }
    }

    /// <summary>False while <c>RawData:CollectorUrl</c> is empty: the pipeline then does nothing for raw data at all.</summary>
    public bool Enabled { get; }

    /// <summary>What the sender reads; null while reporting is off.</summary>
    internal ChannelReader<RawDataRecord>? Queue => _queue?.Reader;

    public RawDataArrival Arrived() => new(_time.GetUtcNow(), _time.GetTimestamp());

    /// <summary>Queues the record of a request whose response is complete.</summary>
    public void Report(HttpContext context, IProxyRequest request, RawDataReport report, RawDataArrival arrival, BodyByteCounter? counter)
    {
        var operation = OperationOf(report, request);
        var record = new RawDataRecord(
            arrival.Start,
            (long)_time.GetElapsedTime(arrival.Timestamp).TotalMilliseconds,
            operation,
            context.Response.StatusCode,
            counter?.RequestBytes ?? 0,
            counter?.ResponseBytes ?? 0,
            TimUserAgent.From(context.Request.Headers));
        _queue!.Writer.TryWrite(record);
        _metrics.Queued(operation);
    }

    /// <summary>The sender delivered a record: the next full queue is worth a warning again.</summary>
    internal void Delivered() => Volatile.Write(ref _dropsSinceSent, 0);

    /// <summary>
    /// The row's operation, or for a request that invites: inside when every invitee's server name equals
    /// <c>RawData:MatrixDomain</c> (host and port, the host case-insensitively), outside when any does not. Equality,
    /// never containment: <c>@a:evilhs.example</c> is outside <c>hs.example</c>.
    /// </summary>
    internal string OperationOf(RawDataReport report, IProxyRequest request)
    {
        if (!report.DependsOnInvitees)
        {
            return report.Operation;
        }

        var invitees = request.Invitees();
        if (invitees.Count == 0)
        {
            return report.Operation;
        }

        foreach (var invitee in invitees)
        {
            if (!IsInOrganisation(invitee))
            {
                return report.InviteeOutside!;
            }
        }

        return report.InviteeInside!;
    }

    internal bool IsInOrganisation(string userId) =>
        ServerNames.TryGetUserServerName(userId, out var server)
        && ServerName.TryParse(server, out var name)
        && name == _organisation;

    private void OnDropped(RawDataRecord dropped)
    {
        _metrics.Dropped("queue_full");
        if (Interlocked.Increment(ref _dropsSinceSent) == 1)
        {
            RawDataLog.QueueFull(_logger, dropped.Operation);
        }
    }
}
