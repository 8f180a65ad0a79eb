using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// A request body read whole before forwarding, in a pooled buffer returned when the request ends. Stages
/// that need its JSON share one parse; what is forwarded is exactly these bytes.
/// </summary>
internal sealed class BufferedRequestBody : IDisposable
{
    // Deep enough for any event content a client sends; deeper documents are refused rather than forwarded unseen.
    internal const int MaxJsonDepth = 128;

    internal static readonly JsonDocumentOptions DocumentOptions = new()
    {
        MaxDepth = MaxJsonDepth,
        // A rule that reads the first of two "user_id" members while the homeserver keeps the last would be
        // no rule at all; such bodies are refused.
        AllowDuplicateProperties = false,
    };

    private byte[]? _buffer;
    private JsonDocument? _document;

    internal BufferedRequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; private set; }

    public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(BufferedRequestBody))).AsMemory(0, Length);

    /// <summary>The parsed document, parsed on first use; throws <see cref="JsonException"/> for a body that is not JSON.</summary>
    public JsonDocument Json => _document ??= JsonDocument.Parse(Memory, DocumentOptions);

    public Stream OpenRead() => new MemoryStream(_buffer!, 0, Length, writable: false);

    /// <summary>
    /// Takes <paramref name="buffer"/> (pooled; returned when the request ends) as the body from now on: a rule that
    /// rewrote the body forwards what it wrote, and later stages parse that. The old bytes go back to the pool.
    /// </summary>
    public void Replace(byte[] buffer, int length)
    {
        ObjectDisposedException.ThrowIf(_buffer is null, this);
        _document?.Dispose();
        _document = null;
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = buffer;
        Length = length;
    }

    /// <summary>Makes these bytes the request's body, framed by a Content-Length that cannot be misread.</summary>
    public void UseAsRequestBody(HttpRequest request)
    {
        request.Headers.Remove(HeaderNames.TransferEncoding);
        request.Headers.ContentLength = Length;
        request.Body = OpenRead();
    }

    public void Dispose()
    {
        _document?.Dispose();
        _document = null;
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
