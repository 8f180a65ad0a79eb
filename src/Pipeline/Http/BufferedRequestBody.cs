using System.Buffers;
using System.Text.Json;
using MessengerProxy.Policy;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Pipeline.Http;

/// <summary>
/// A request body read whole before forwarding, in a pooled buffer returned when the request ends. Stages
/// that need its JSON share one parse; what is forwarded is exactly these bytes. Both proxies read bodies with
/// <see cref="ReadAsync"/> (the inbound proxy every non-upload body, the outbound proxy federation transactions),
/// so a malformed, oversized or abandoned body is answered the same way in both directions.
/// </summary>
internal sealed class BufferedRequestBody : IDisposable
{
    private const int InitialChunkedBuffer = 4096;

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

    /// <summary>
    /// Reads the request body whole into a pooled buffer, at most <paramref name="limit"/> bytes: a declared or
    /// actual length over it is <c>413 M_TOO_LARGE</c>, a malformed chunked body or a client that stops half-way
    /// <c>400 M_UNKNOWN</c>, each with <c>Connection: close</c> (the connection's framing is no longer known, and
    /// an unwanted rest is not drained). The body is the caller's to dispose.
    /// </summary>
    public static async ValueTask<(BufferedRequestBody? Body, MatrixError? Error)> ReadAsync(HttpContext context, int limit)
    {
        var declared = context.Request.ContentLength;
        if (declared > limit)
        {
            return (null, TooLarge(context, limit));
        }

        // Returned to the pool in the finally block unless the body took it over.
        byte[]? buffer = ArrayPool<byte>.Shared.Rent(declared is { } known ? (int)Math.Max(known, 1) : InitialChunkedBuffer);
        var length = 0;
        try
        {
            var source = context.Request.Body;
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1L));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await source.ReadAsync(buffer.AsMemory(length), context.RequestAborted);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limit)
                {
                    return (null, TooLarge(context, limit));
                }
            }

            var body = new BufferedRequestBody(buffer, length);
            buffer = null;
            return (body, null);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(context, limit));
        }
        catch (BadHttpRequestException)
        {
            // A framing error leaves the connection in an unknown state: no further request may be read from it.
            context.Response.Headers.Connection = "close";
            return (null, new MatrixError(400, MatrixErrorCode.Unknown, "The request body is malformed"));
        }
        catch (IOException)
        {
            context.Response.Headers.Connection = "close";
            return (null, new MatrixError(400, MatrixErrorCode.Unknown, "The request body could not be read"));
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private static MatrixError TooLarge(HttpContext context, int limit)
    {
        // Closing the connection keeps the server from draining the unwanted rest of the body.
        context.Response.Headers.Connection = "close";
        return new MatrixError(413, MatrixErrorCode.TooLarge, $"Request body is larger than the limit of {limit} bytes");
    }

    /// <summary>
    /// One pass over a JSON body: well-formed UTF-8 JSON within the depth limit, and no escaped string that decodes
    /// to a lone surrogate (which has no UTF-8 form, so parsers either refuse it or mangle it differently).
    /// </summary>
    internal static MatrixError? Validate(ReadOnlySpan<byte> json)
    {
        // The reader checks the structure but not the UTF-8 inside strings; a homeserver would decode those
        // with replacement characters or refuse them, so the proxy refuses them itself.
        if (!System.Text.Unicode.Utf8.IsValid(json))
        {
            return new MatrixError(400, MatrixErrorCode.NotJson, "Request body is not valid UTF-8");
        }

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = MaxJsonDepth });
        try
        {
            while (reader.Read())
            {
                if (reader is { ValueIsEscaped: true, TokenType: JsonTokenType.String or JsonTokenType.PropertyName } && !HasUtf16Form(ref reader))
                {
                    return new MatrixError(400, MatrixErrorCode.BadJson, "Request body contains an escaped lone surrogate, which is not a character");
                }
            }

            return null;
        }
        catch (JsonException)
        {
            return new MatrixError(400, MatrixErrorCode.NotJson, "Request body is not valid JSON");
        }
    }

    private static bool HasUtf16Form(ref Utf8JsonReader reader)
    {
        var length = reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;
        var rented = ArrayPool<char>.Shared.Rent((int)length);
        try
        {
            reader.CopyString(rented);
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        finally
        {
            ArrayPool<char>.Shared.Return(rented);
        }
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
