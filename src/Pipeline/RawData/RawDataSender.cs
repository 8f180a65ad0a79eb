using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>
/// The one background task that delivers raw-data records: it takes up to <c>RawData:BatchSize</c> records from the
/// queue at a time and POSTs each to the collector (the rawdata-master takes one record per request), retrying a
/// failed one with a doubling delay up to <c>MaxAttempts</c>. While it retries, new records wait in the bounded queue,
/// which drops its oldest when full; requests never wait. At shutdown it sends what is queued (one attempt each)
/// until <c>DrainTimeout</c>, then counts the rest as dropped.
/// </summary>
internal sealed class RawDataSender : BackgroundService
{
    public const string HttpClientName = "MessengerProxy.RawData";

    private readonly RawDataReporter _reporter;
    private readonly RawDataOptions _options;
    private readonly RawDataIdentity _identity;
    private readonly IHttpClientFactory _clients;
    private readonly RawDataMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ArrayBufferWriter<byte> _body = new(1024);

    public RawDataSender(RawDataReporter reporter, IOptions<RawDataOptions> options, IHttpClientFactory clients, RawDataMetrics metrics,
        TimeProvider time, ILogger<RawDataSender> logger)
    {
        _reporter = reporter;
        _options = options.Value;
        _identity = RawDataIdentity.From(_options);
        _clients = clients;
        _metrics = metrics;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_reporter.Queue is not { } queue)
        {
            return;
        }

        RawDataLog.ReportingOn(_logger, _options.QueueCapacity, _options.BatchSize);
        var client = _clients.CreateClient(HttpClientName);
        var batch = new Queue<RawDataRecord>(_options.BatchSize);
        try
        {
            while (await queue.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < _options.BatchSize && queue.TryRead(out var record))
                {
                    batch.Enqueue(record);
                }

                while (batch.TryPeek(out var next))
                {
                    await DeliverAsync(client, next, _options.MaxAttempts, stoppingToken);
                    batch.Dequeue();
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }

        await DrainAsync(client, queue, batch);
    }

    /// <summary>The records still queued at shutdown, one attempt each, while the drain time lasts.</summary>
    private async Task DrainAsync(HttpClient client, System.Threading.Channels.ChannelReader<RawDataRecord> queue, Queue<RawDataRecord> batch)
    {
        using var drain = new CancellationTokenSource(_options.DrainTimeout, _time);
        try
        {
            while (batch.TryDequeue(out var record) || queue.TryRead(out record))
            {
                await DeliverAsync(client, record, maxAttempts: 1, drain.Token);
            }
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            var left = batch.Count + (queue.CanCount ? queue.Count : 0);
            if (left > 0)
            {
                _metrics.Dropped("shutdown", left);
                RawDataLog.DroppedAtShutdown(_logger, left);
            }
        }
    }

    /// <summary>Sends one record; gives up (counted) after <paramref name="maxAttempts"/> or on an answer retrying cannot change.</summary>
    private async Task DeliverAsync(HttpClient client, RawDataRecord record, int maxAttempts, CancellationToken cancellationToken)
    {
        _body.ResetWrittenCount();
        record.WriteTo(_body, _identity);
        var delay = _options.RetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            var (failure, permanent) = await TrySendAsync(client, cancellationToken);
            if (failure is null)
            {
                _metrics.Sent();
                _reporter.Delivered();
                return;
            }

            RawDataLog.SendFailed(_logger, record.Operation, attempt, maxAttempts, failure);
            if (permanent || attempt >= maxAttempts)
            {
                _metrics.Dropped("failed");
                RawDataLog.RecordFailed(_logger, record.Operation, attempt);
                return;
            }

            await Task.Delay(delay, _time, cancellationToken);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
        }
    }

    private async Task<(string? Failure, bool Permanent)> TrySendAsync(HttpClient client, CancellationToken cancellationToken)
    {
        using var content = new ReadOnlyMemoryContent(_body.WrittenMemory);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        try
        {
            using var response = await client.PostAsync(_options.CollectorUrl, content, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                return (null, false);
            }

            _metrics.SendFailed("status");
            var status = (int)response.StatusCode;

            // The collector refused the record itself (validation): sending it again gets the same answer.
            var permanent = status is >= 400 and < 500 and not (int)HttpStatusCode.RequestTimeout and not (int)HttpStatusCode.TooManyRequests;
            return ($"status {status}", permanent);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _metrics.SendFailed("timeout");
            return ($"no answer within {_options.SendTimeout}", false);
        }
        catch (HttpRequestException ex)
        {
            _metrics.SendFailed("unreachable");
            return (ex.HttpRequestError.ToString(), false);
        }
    }
}
