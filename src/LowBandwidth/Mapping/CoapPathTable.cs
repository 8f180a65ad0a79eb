using System.Globalization;
using System.Text;
using MessengerProxy.Policy.Http;

namespace MessengerProxy.LowBandwidth.Mapping;

/// <summary>Why a CoAP path cannot be turned into a Matrix path.</summary>
public enum CoapPathError
{
    None,
    MissingParameters,
    ExtraSegments,
    Empty,
}

/// <summary>
/// The MSC3079 path enums (<c>coap-paths-v1.tsv</c>, embedded): <c>/9/{roomId}/{eventType}/{txnId}</c> ⇄
/// <c>/_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}</c>. The MSC's templates say r0; the
/// same endpoints are expanded to v3, the version the proxy's v1.11 allowlist lets through. Paths that do
/// not start with a code are full paths. Segments arrive decoded (one Uri-Path option each) and are
/// percent-encoded again, segment by segment, so a <c>/</c>, <c>?</c>, <c>#</c> or <c>%</c> inside a
/// parameter cannot change the path's structure.
/// </summary>
internal sealed class CoapPathTable
{
    internal const string ResourceName = "MessengerProxy.LowBandwidth.coap-paths-v1.tsv";

    private readonly Dictionary<string, Entry> _byCode = new(StringComparer.Ordinal);
    private readonly List<Entry> _entries = [];

    private CoapPathTable(int version) => Version = version;

    public static CoapPathTable V1 { get; } = Load(1);

    public int Version { get; }

    public int Count => _entries.Count;

    /// <summary>The Matrix path (raw, percent-encoded) for the Uri-Path segments of a request.</summary>
    public CoapPathError TryExpand(IReadOnlyList<string> segments, out string rawPath)
    {
        rawPath = string.Empty;
        if (segments.Count == 0)
        {
            return CoapPathError.Empty;
        }

        var builder = new StringBuilder(64);
        if (!_byCode.TryGetValue(segments[0], out var entry))
        {
            foreach (var segment in segments)
            {
                builder.Append('/');
                AppendEscaped(builder, segment);
            }

            rawPath = builder.ToString();
            return CoapPathError.None;
        }

        var parameters = segments.Count - 1;
        if (parameters < entry.ParameterCount)
        {
            return CoapPathError.MissingParameters;
        }

        if (parameters > entry.ParameterCount)
        {
            return CoapPathError.ExtraSegments;
        }

        var next = 1;
        foreach (var part in entry.Segments)
        {
            builder.Append('/');
            if (part.IsParameter)
            {
                AppendEscaped(builder, segments[next++]);
            }
            else
            {
                builder.Append(part.Text);
            }
        }

        if (entry.TrailingSlash)
        {
            builder.Append('/');
        }

        rawPath = builder.ToString();
        return CoapPathError.None;
    }

    /// <summary>The code of a path template's entry, for logs: <c>9</c> for the send endpoint.</summary>
    public string? CodeOf(string firstSegment) => _byCode.TryGetValue(firstSegment, out var entry) ? entry.Code : null;

    /// <summary>
    /// The short form of a Matrix path (decoded segments, ready to become Uri-Path options): the enum when
    /// an r0 or v3 template matches, otherwise the path's own segments.
    /// </summary>
    public List<string> Shorten(string rawPath)
    {
        var segments = rawPath.TrimStart('/').Split('/').Select(Uri.UnescapeDataString).ToList();
        foreach (var entry in _entries)
        {
            if (entry.TryMatch(segments, out var parameters))
            {
                return [entry.Code, .. parameters];
            }
        }

        return segments;
    }

    private static void AppendEscaped(StringBuilder builder, string segment)
    {
        if (!segment.AsSpan().ContainsAnyExcept(HttpCharacters.PathSegment))
        {
            builder.Append(segment);
            return;
        }

        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in segment.EnumerateRunes())
        {
            if (rune.IsAscii && HttpCharacters.PathSegment.Contains((char)rune.Value))
            {
                builder.Append((char)rune.Value);
                continue;
            }

            var length = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..length])
            {
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
            }
        }
    }

    private static CoapPathTable Load(int version)
    {
        var table = new CoapPathTable(version);
        foreach (var row in VersionedTable.Rows(ResourceName, ["version", "code", "msc_template"], version))
        {
            var entry = new Entry(row[0], row[1]);
            if (!table._byCode.TryAdd(entry.Code, entry))
            {
                throw new FormatException($"{ResourceName}: code {entry.Code} is defined twice");
            }

            table._entries.Add(entry);
        }

        return table;
    }

    private readonly record struct Part(string Text, bool IsParameter);

    private sealed class Entry
    {
        public Entry(string code, string mscTemplate)
        {
            Code = code;
            TrailingSlash = mscTemplate.EndsWith('/');
            var v3 = mscTemplate.Replace("/_matrix/client/r0/", "/_matrix/client/v3/", StringComparison.Ordinal);
            Segments = v3.Trim('/').Split('/').Select(s => new Part(s, s.StartsWith('{'))).ToArray();
            ParameterCount = Segments.Count(s => s.IsParameter);
        }

        public string Code { get; }

        public Part[] Segments { get; }

        public int ParameterCount { get; }

        public bool TrailingSlash { get; }

        public bool TryMatch(List<string> path, out List<string> parameters)
        {
            parameters = [];
            var length = path.Count;
            if (TrailingSlash && length > 0 && path[^1].Length == 0)
            {
                length--;
            }
            else if (TrailingSlash)
            {
                return false;
            }

            if (length != Segments.Length)
            {
                return false;
            }

            for (var i = 0; i < length; i++)
            {
                var part = Segments[i];
                if (part.IsParameter)
                {
                    parameters.Add(path[i]);
                }
                else if (path[i] != part.Text && !(part.Text == "v3" && path[i] == "r0"))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
