namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// The committed tab-separated tables (the generated v1.11 table, the TIM overrides): blank lines and <c>#</c>
/// comments skipped, the first other line the exact header, every row as many columns as the header.
/// </summary>
internal static class TsvRows
{
    /// <summary>The data rows with their line numbers (for messages); <see cref="FormatException"/> on a wrong header or width.</summary>
    public static IEnumerable<(int Line, string[] Cols)> Read(TextReader reader, string[] header, string table)
    {
        var sawHeader = false;
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var cols = line.Split('\t');
            if (!sawHeader)
            {
                if (!cols.AsSpan().SequenceEqual(header))
                {
                    throw new FormatException($"line {lineNumber}: unexpected {table} header '{line}'");
                }

                sawHeader = true;
                continue;
            }

            if (cols.Length != header.Length)
            {
                throw new FormatException($"line {lineNumber}: expected {header.Length} columns, found {cols.Length}");
            }

            yield return (lineNumber, cols);
        }

        if (!sawHeader)
        {
            throw new FormatException($"the {table} has no header line");
        }
    }
}
