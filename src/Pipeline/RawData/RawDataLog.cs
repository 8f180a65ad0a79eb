using Microsoft.Extensions.Logging;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>
/// Log events of raw-data reporting (event IDs 220–229). Records hold no personal data, but they are still never
/// logged, nor the collector's answer body: only counts, operations and reasons.
/// </summary>
internal static partial class RawDataLog
{
    [LoggerMessage(220, LogLevel.Information, "Raw-data reporting to the collector is on (queue {Capacity}, batches of {BatchSize})", EventName = "RawDataReportingOn")]
    public static partial void ReportingOn(ILogger logger, int capacity, int batchSize);

    [LoggerMessage(221, LogLevel.Warning, "Raw-data record ({Operation}) not accepted by the collector, attempt {Attempt} of {MaxAttempts}: {Reason}", EventName = "RawDataSendFailed")]
    public static partial void SendFailed(ILogger logger, string operation, int attempt, int maxAttempts, string reason);

    [LoggerMessage(222, LogLevel.Warning, "Raw-data record ({Operation}) dropped after {Attempts} failed attempts", EventName = "RawDataRecordFailed")]
    public static partial void RecordFailed(ILogger logger, string operation, int attempts);

    [LoggerMessage(223, LogLevel.Warning, "Raw-data queue full: dropped the oldest record ({Operation}); the collector is slower than the traffic or unreachable", EventName = "RawDataQueueFull")]
    public static partial void QueueFull(ILogger logger, string operation);

    [LoggerMessage(224, LogLevel.Warning, "Raw-data records not sent before shutdown: {Count} dropped", EventName = "RawDataDroppedAtShutdown")]
    public static partial void DroppedAtShutdown(ILogger logger, int count);
}
