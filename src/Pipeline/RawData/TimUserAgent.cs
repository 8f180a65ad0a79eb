using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>
/// The client identification of a raw-data record (<c>UA-*</c>), from <c>X-TIM-User-Agent</c> or, when that is absent,
/// the reference client's legacy <c>Useragent</c> JSON header. Every field is <c>n/a</c> when unknown; a header that
/// is malformed as a whole makes all of them <c>n/a</c> rather than reporting half of a guess.
/// </summary>
internal sealed record TimUserAgent(
    string ProductVersion,
    string ProductTypeVersion,
    string Variant,
    string Platform,
    string OperatingSystem,
    string OperatingSystemVersion,
    string ClientId)
{
    public const string HeaderName = "X-TIM-User-Agent";
    public const string LegacyHeaderName = "Useragent";
    public const string NotAvailable = "n/a";

    // Longer values are no identification but noise (or an attempt to fill the collector).
    internal const int MaxFieldLength = 128;
    internal const int MaxLegacyHeaderLength = 2048;

    private static readonly SearchValues<char> s_fieldChars = SearchValues.Create(
        " !\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    public static TimUserAgent Unknown { get; } = new(NotAvailable, NotAvailable, NotAvailable, NotAvailable, NotAvailable, NotAvailable, NotAvailable);

    /// <summary>The identification a request carries.</summary>
    public static TimUserAgent From(IHeaderDictionary headers)
    {
        var tim = headers[HeaderName];
        if (tim.Count > 0)
        {
            return tim.Count == 1 ? ParseTim(tim[0]) : Unknown;
        }

        var legacy = headers[LegacyHeaderName];
        return legacy.Count == 1 ? ParseLegacy(legacy[0]) : Unknown;
    }

    /// <summary>
    /// <c>X-TIM-User-Agent: &lt;client id&gt;, &lt;platform&gt;[, &lt;product version&gt;[, &lt;product type version&gt;[, &lt;variant&gt;[, &lt;OS&gt;[, &lt;OS version&gt;]]]]]</c>,
    /// comma-separated as the gematik test suite sends it (<c>gematikTestsuite, web</c>). Malformed (every field
    /// <c>n/a</c>): no value, more than seven fields, an empty field, one longer than 128 characters or with other
    /// than visible ASCII and spaces, or a platform other than <c>mobil</c>, <c>stationaer</c>, <c>web</c>.
    /// </summary>
    public static TimUserAgent ParseTim(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return Unknown;
        }

        Span<Range> ranges = stackalloc Range[8];
        var span = value.AsSpan();
        var count = span.Split(ranges, ',');
        if (count > 7)
        {
            return Unknown;
        }

        var fields = new string[7];
        for (var i = 0; i < fields.Length; i++)
        {
            if (i >= count)
            {
                fields[i] = NotAvailable;
                continue;
            }

            var field = span[ranges[i]].Trim(' ');
            if (field.IsEmpty || field.Length > MaxFieldLength || field.ContainsAnyExcept(s_fieldChars))
            {
                return Unknown;
            }

            fields[i] = field.ToString();
        }

        if (count >= 2 && !IsPlatform(fields[1]))
        {
            return Unknown;
        }

        return new TimUserAgent(
            ProductVersion: fields[2], ProductTypeVersion: fields[3], Variant: fields[4], Platform: fields[1],
            OperatingSystem: fields[5], OperatingSystemVersion: fields[6], ClientId: fields[0]);
    }

    /// <summary>
    /// The reference client's <c>Useragent</c> header: a JSON object with <c>Produktversion</c>, <c>Produkttypversion</c>,
    /// <c>Auspraegung</c>, <c>Plattform</c>, <c>OS</c>, <c>OS-Version</c>, <c>client_id</c>. A member that is missing or
    /// not a short string is <c>n/a</c>; a header that is no JSON object, or too long, makes every field <c>n/a</c>.
    /// </summary>
    public static TimUserAgent ParseLegacy(string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > MaxLegacyHeaderLength)
        {
            return Unknown;
        }

        try
        {
            using var document = JsonDocument.Parse(value, new JsonDocumentOptions { MaxDepth = 4 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return Unknown;
            }

            var platform = Member(root, "Plattform");
            return new TimUserAgent(
                Member(root, "Produktversion"), Member(root, "Produkttypversion"), Member(root, "Auspraegung"),
                IsPlatform(platform) ? platform : NotAvailable, Member(root, "OS"), Member(root, "OS-Version"), Member(root, "client_id"));
        }
        catch (JsonException)
        {
            return Unknown;
        }
    }

    private static string Member(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var member) || member.ValueKind != JsonValueKind.String)
        {
            return NotAvailable;
        }

        var text = member.GetString()!.Trim();
        return text.Length == 0 || text.Length > MaxFieldLength || text.AsSpan().ContainsAnyExcept(s_fieldChars) ? NotAvailable : text;
    }

    private static bool IsPlatform(string value) => value is "mobil" or "stationaer" or "web";
}
