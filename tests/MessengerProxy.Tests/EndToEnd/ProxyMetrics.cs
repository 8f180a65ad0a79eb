using System.Globalization;
using System.Text.RegularExpressions;

namespace MessengerProxy.Tests.EndToEnd;

/// <summary>The counters of a proxy's <c>/metrics</c> that say it did not deliver something.</summary>
public static partial class ProxyMetrics
{
    /// <summary>Outcome labels that mean "refused, or failed to deliver" on the proxy's request and tunnel counters.</summary>
    private static readonly HashSet<string> s_undelivered = new(StringComparer.Ordinal)
    {
        "rejected", "refused", "refused_inside", "malformed", "handshake_failed", "limit", "upstream_error", "error",
    };

    public static async Task<string> ScrapeAsync(int healthPort, CancellationToken cancellationToken)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        return await client.GetStringAsync($"http://127.0.0.1:{healthPort}/metrics", cancellationToken);
    }

    /// <summary>Samples (series → value) of every counter that counts a refusal or a delivery failure.</summary>
    public static Dictionary<string, double> Undelivered(string metricsText)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in metricsText.Split('\n'))
        {
            var match = SampleLine().Match(line.Trim());
            if (!match.Success)
            {
                continue;
            }

            var name = match.Groups["name"].Value;
            var labels = match.Groups["labels"].Value;
            var outcome = OutcomeLabel().Match(labels) is { Success: true } o ? o.Groups[1].Value : null;
            var counts = name switch
            {
                "messengerproxy_inbound_requests_total" or "messengerproxy_outbound_requests_total" or "messengerproxy_outbound_tunnels_total"
                    => outcome is not null && s_undelivered.Contains(outcome),
                "messengerproxy_lowbandwidth_requests_rejected_total" or "messengerproxy_lowbandwidth_handshakes_dropped_total"
                    or "messengerproxy_lowbandwidth_buffered_bodies_dropped_total"
                    or "messengerproxy_tim_invite_check_failures_total" or "messengerproxy_tim_admin_failures_total" => true,
                _ => false,
            };
            var value = double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            if (counts && value > 0)
            {
                result[name + "{" + labels + "}"] = value;
            }
        }

        return result;
    }

    /// <summary>One sample's value, 0 when the series does not exist (yet).</summary>
    public static double Value(string metricsText, string series)
    {
        foreach (var line in metricsText.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
            {
                return double.Parse(line[(series.Length + 1)..].Trim(), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>Sum of every sample of <paramref name="name"/> whose labels contain all of <paramref name="labels"/> (e.g. <c>outcome="refused"</c>).</summary>
    public static double Sum(string metricsText, string name, params string[] labels)
    {
        var total = 0.0;
        foreach (var line in metricsText.Split('\n'))
        {
            var match = SampleLine().Match(line.Trim());
            if (match.Success && match.Groups["name"].Value == name && labels.All(l => match.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
            {
                total += double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture);
            }
        }

        return total;
    }

    [GeneratedRegex("^(?<name>[a-z_]+)\\{(?<labels>[^}]*)\\} (?<value>[0-9.e+-]+)$")]
    private static partial Regex SampleLine();

    [GeneratedRegex("outcome=\"([^\"]*)\"")]
    private static partial Regex OutcomeLabel();
}
