namespace MessengerProxy.Hosting.Metrics;

/// <summary>Label values shared by the proxies' metrics.</summary>
internal static class MetricLabels
{
    /// <summary><c>2xx</c>, <c>4xx</c>, …: few values, so the label set stays small.</summary>
    public static string StatusClass(int statusCode) => statusCode switch
    {
        >= 100 and < 200 => "1xx",
        < 300 => "2xx",
        < 400 => "3xx",
        < 500 => "4xx",
        _ => "5xx",
    };
}
