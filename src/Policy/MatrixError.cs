using System.Text.Json;

namespace MessengerProxy.Policy;

/// <summary>Error codes of the Matrix spec used by the proxy's own answers.</summary>
internal static class MatrixErrorCode
{
    public const string Unrecognized = "M_UNRECOGNIZED";
    public const string NotFound = "M_NOT_FOUND";
    public const string TooLarge = "M_TOO_LARGE";
    public const string Unknown = "M_UNKNOWN";
    public const string MissingToken = "M_MISSING_TOKEN";
    public const string Forbidden = "M_FORBIDDEN";
    public const string Unauthorized = "M_UNAUTHORIZED";
    public const string BadJson = "M_BAD_JSON";
    public const string NotJson = "M_NOT_JSON";
    public const string InvalidParam = "M_INVALID_PARAM";
    public const string UnsupportedRoomVersion = "M_UNSUPPORTED_ROOM_VERSION";
    public const string InvalidRoomState = "M_INVALID_ROOM_STATE";
}

/// <summary>An answer the proxy gives itself, in the spec's standard error format.</summary>
internal sealed record MatrixError(int StatusCode, string ErrorCode, string Message)
{
    public static MatrixError UnknownEndpoint { get; } =
        new(404, MatrixErrorCode.Unrecognized, "Unrecognized request: not a Matrix v1.11 endpoint served here");

    public static MatrixError MethodNotAllowed { get; } =
        new(405, MatrixErrorCode.Unrecognized, "Unrecognized request: method not allowed for this endpoint");

    public static MatrixError MissingToken { get; } =
        new(401, MatrixErrorCode.MissingToken, "Missing access token");

    /// <summary>
    /// A Matrix error body of the homeserver's, relayed as it came (with members such as <c>soft_logout</c> or
    /// <c>retry_after_ms</c>) instead of one built from <see cref="ErrorCode"/> and <see cref="Message"/>.
    /// </summary>
    public byte[]? RelayedBody { get; init; }

    /// <summary><c>{"errcode":"…","error":"…"}</c> as UTF-8.</summary>
    public byte[] ToUtf8Json()
    {
        if (RelayedBody is { } relayed)
        {
            return relayed;
        }

        using var buffer = new MemoryStream(64 + Message.Length);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteString("errcode"u8, ErrorCode);
            writer.WriteString("error"u8, Message);
            writer.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
