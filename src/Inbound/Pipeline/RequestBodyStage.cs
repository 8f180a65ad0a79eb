using System.Buffers;
using System.Text.Json;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>
/// Reads the body of every request that is not a media upload, whole and bounded, before anything reaches the
/// homeserver: a malformed chunked body, an oversized one or a client that stops half-way is answered here,
/// and the homeserver never sees a request it would only see aborted. A JSON endpoint's body must be JSON
/// (valid UTF-8, no lone surrogate escapes, bounded depth). The buffered bytes are then forwarded with a
/// Content-Length; media uploads keep streaming.
/// </summary>
internal sealed class RequestBodyStage : IInboundPolicy
{
    private const int InitialChunkedBuffer = 4096;

    private readonly int _limit;

    public RequestBodyStage(IOptions<InboundOptions> options) =>
        _limit = (int)Math.Min(options.Value.MaxJsonBodyBytes, Array.MaxLength - 1);

    // Most requests (GETs) have no body: they leave without entering the async path.
    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request) =>
        request.IsPreflight || !request.Endpoint.Traits.BufferBody || !CanHaveBody(context.Request)
            ? ValueTask.FromResult<MatrixError?>(null)
            : BufferAsync(context, request);

    private async ValueTask<MatrixError?> BufferAsync(HttpContext context, InboundRequestFeature request)
    {
        var (body, error) = await ReadAsync(context);
        if (error is not null)
        {
            return error;
        }

        context.Response.RegisterForDispose(body!);
        request.Body = body;
        if (request.Endpoint.Body == RequestBodyKind.Json && body!.Length > 0 && Validate(body.Memory.Span) is { } invalid)
        {
            return invalid;
        }

        // The homeserver gets the bytes that were checked, framed by a length that cannot be misread.
        body!.UseAsRequestBody(context.Request);
        return null;
    }

    private static bool CanHaveBody(HttpRequest request) =>
        request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody
        ?? (request.ContentLength > 0 || request.Headers.ContainsKey(HeaderNames.TransferEncoding));

    private async ValueTask<(BufferedRequestBody? Body, MatrixError? Error)> ReadAsync(HttpContext context)
    {
        var declared = context.Request.ContentLength;
        if (declared > _limit)
        {
            return (null, TooLarge(context));
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
                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, _limit + 1L));
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
                if (length > _limit)
                {
                    return (null, TooLarge(context));
                }
            }

            var body = new BufferedRequestBody(buffer, length);
            buffer = null;
            return (body, null);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(context));
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

    private MatrixError TooLarge(HttpContext context)
    {
        // Closing the connection keeps the server from draining the unwanted rest of the body.
        context.Response.Headers.Connection = "close";
        return new MatrixError(413, MatrixErrorCode.TooLarge, $"Request body is larger than the limit of {_limit} bytes");
    }

    /// <summary>
    /// One pass over the body: well-formed UTF-8 JSON within the depth limit, and no escaped string that decodes
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

        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = BufferedRequestBody.MaxJsonDepth });
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
}
