using System.Collections.Frozen;
using System.Text;

namespace MessengerProxy.Policy.Endpoints;

/// <summary>
/// The form of a refused path that may be logged: segments that are literals of the endpoint table (or, in the
/// first three, namespace-like words such as <c>_synapse</c> or <c>unstable</c>) are kept, every other segment
/// becomes <c>*</c>, so user IDs, room IDs, aliases and tokens in a path never reach the log.
/// </summary>
internal sealed class LogPath
{
    private const int MaxKeptLength = 40;
    private const int NamespaceSegments = 3;

    private readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> _literals;

    public LogPath(EndpointTable table)
    {
        _literals = table.Endpoints
            .SelectMany(e => e.Template.Segments)
            .Where(s => s.Kind == TemplateSegmentKind.Literal)
            .Select(s => s.Text)
            .ToFrozenSet(StringComparer.Ordinal)
            .GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public string Mask(ReadOnlySpan<char> rawPath)
    {
        if (rawPath.IsEmpty || rawPath[0] != '/')
        {
            return "(malformed)";
        }

        var builder = new StringBuilder(rawPath.Length);
        var index = 0;
        foreach (var range in rawPath[1..].Split('/'))
        {
            var segment = rawPath[1..][range];
            builder.Append('/');
            if (_literals.Contains(segment) || (index < NamespaceSegments && IsNamespaceWord(segment)))
            {
                builder.Append(segment);
            }
            else if (!segment.IsEmpty)
            {
                builder.Append('*');
            }

            index++;
        }

        return builder.ToString();
    }

    // Lower-case words, digits, '_', '.' and '-': the shape of API namespaces and versions, never of a Matrix
    // identifier (those carry a sigil and a ':').
    private static bool IsNamespaceWord(ReadOnlySpan<char> segment) =>
        segment.Length is > 0 and <= MaxKeptLength && !segment.ContainsAnyExcept(s_namespaceChars);

    private static readonly System.Buffers.SearchValues<char> s_namespaceChars =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyz0123456789_.-");
}
