using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>One change to a JSON text: <see cref="Remove"/> bytes at <see cref="Offset"/> replaced by <see cref="Insert"/>.</summary>
internal readonly record struct JsonEdit(int Offset, int Remove, ReadOnlyMemory<byte> Insert);

/// <summary>
/// Patches a parsed JSON body in place of re-serialising it: the edits are spliced into the original bytes, so every
/// member a rule did not touch reaches the homeserver byte for byte — unknown fields, number spellings, escapes and
/// non-ASCII text included (a writer would re-escape emoji as surrogate pairs, for instance).
/// </summary>
internal static class JsonSplice
{
    /// <summary>Where <paramref name="element"/>'s value starts in <paramref name="body"/>, and how long it is.</summary>
    public static (int Offset, int Length) Locate(ReadOnlySpan<byte> body, JsonElement element)
    {
        // A document parsed from memory keeps pointing into it, so the raw value is a slice of the body.
        var raw = JsonMarshal.GetRawUtf8Value(element);
        if (!body.Overlaps(raw, out var offset) || offset < 0 || offset + raw.Length > body.Length)
        {
            throw new InvalidOperationException("the element is not part of the body it was parsed from");
        }

        return (offset, raw.Length);
    }

    /// <summary>
    /// The position just after the opening brace of <paramref name="obj"/>, where a member can be inserted without
    /// touching any other.
    /// </summary>
    public static int AfterOpeningBrace(ReadOnlySpan<byte> body, JsonElement obj) => Locate(body, obj).Offset + 1;

    /// <summary>The body with <paramref name="edits"/> applied, in a pooled buffer of at least <c>Length</c> bytes.</summary>
    public static (byte[] Buffer, int Length) Apply(ReadOnlySpan<byte> body, List<JsonEdit> edits)
    {
        edits.Sort(static (a, b) => a.Offset.CompareTo(b.Offset));
        var length = body.Length;
        foreach (var edit in edits)
        {
            length += edit.Insert.Length - edit.Remove;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(length);
        var written = 0;
        var position = 0;
        foreach (var edit in edits)
        {
            body[position..edit.Offset].CopyTo(buffer.AsSpan(written));
            written += edit.Offset - position;
            edit.Insert.Span.CopyTo(buffer.AsSpan(written));
            written += edit.Insert.Length;
            position = edit.Offset + edit.Remove;
        }

        body[position..].CopyTo(buffer.AsSpan(written));
        return (buffer, length);
    }
}
