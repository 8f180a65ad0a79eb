using System.Globalization;

namespace MessengerProxy.LowBandwidth;

/// <summary>
/// Reads the MSC3079 tables embedded in this assembly: tab-separated, <c>#</c> comments, a header line whose
/// first column is <c>version</c>. Versions only ever add rows, so version N is every row up to N.
/// </summary>
internal static class VersionedTable
{
    /// <summary>The columns after <c>version</c> of every row of <paramref name="version"/> or earlier.</summary>
    public static IEnumerable<string[]> Rows(string resourceName, string[] header, int version)
    {
        using var stream = typeof(VersionedTable).Assembly.GetManifestResourceStream(resourceName)
            ?? throw new InvalidOperationException($"embedded resource {resourceName} is missing");
        using var reader = new StreamReader(stream);
        var sawHeader = false;
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var columns = line.Split('\t');
            if (!sawHeader)
            {
                sawHeader = columns.SequenceEqual(header) ? true : throw new FormatException($"unexpected header '{line}' in {resourceName}");
                continue;
            }

            if (columns.Length != header.Length)
            {
                throw new FormatException($"{resourceName}: expected {header.Length} columns in '{line}'");
            }

            if (int.Parse(columns[0], CultureInfo.InvariantCulture) <= version)
            {
                yield return columns[1..];
            }
        }
    }
}
