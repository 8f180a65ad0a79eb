using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.LowBandwidth.Mapping;

/// <summary>HTTP ⇄ CoAP methods, status codes and content formats (RFC 8075 §7, RFC 8132, RFC 8516), as tables.</summary>
internal static class HttpCoapCodes
{
    private static readonly Dictionary<int, byte> s_statusToCode = new()
    {
        [200] = CoapCodes.Content, [201] = CoapCodes.Created, [202] = CoapCodes.Content, [204] = CoapCodes.Changed, [304] = CoapCodes.Valid,
        [400] = CoapCodes.BadRequest, [401] = CoapCodes.Unauthorized, [403] = CoapCodes.Forbidden, [404] = CoapCodes.NotFound,
        [405] = CoapCodes.MethodNotAllowed, [406] = CoapCodes.NotAcceptable, [408] = CoapCodes.RequestEntityIncomplete,
        [409] = CoapCodes.Conflict, [412] = CoapCodes.PreconditionFailed, [413] = CoapCodes.RequestEntityTooLarge,
        [415] = CoapCodes.UnsupportedContentFormat, [422] = CoapCodes.UnprocessableEntity, [429] = CoapCodes.TooManyRequests,
        [500] = CoapCodes.InternalServerError, [501] = CoapCodes.NotImplemented, [502] = CoapCodes.BadGateway,
        [503] = CoapCodes.ServiceUnavailable, [504] = CoapCodes.GatewayTimeout,
    };

    private static readonly Dictionary<byte, int> s_codeToStatus = new()
    {
        [CoapCodes.Created] = 201, [CoapCodes.Deleted] = 200, [CoapCodes.Valid] = 304, [CoapCodes.Changed] = 200,
        [CoapCodes.Content] = 200, [CoapCodes.Continue] = 200,
        [CoapCodes.BadRequest] = 400, [CoapCodes.Unauthorized] = 401, [CoapCodes.BadOption] = 400, [CoapCodes.Forbidden] = 403,
        [CoapCodes.NotFound] = 404, [CoapCodes.MethodNotAllowed] = 405, [CoapCodes.NotAcceptable] = 406,
        [CoapCodes.RequestEntityIncomplete] = 408, [CoapCodes.Conflict] = 409, [CoapCodes.PreconditionFailed] = 412,
        [CoapCodes.RequestEntityTooLarge] = 413, [CoapCodes.UnsupportedContentFormat] = 415,
        [CoapCodes.UnprocessableEntity] = 422, [CoapCodes.TooManyRequests] = 429,
        [CoapCodes.InternalServerError] = 500, [CoapCodes.NotImplemented] = 501, [CoapCodes.BadGateway] = 502,
        [CoapCodes.ServiceUnavailable] = 503, [CoapCodes.GatewayTimeout] = 504, [CoapCodes.ProxyingNotSupported] = 502,
    };

    /// <summary>The method of a CoAP request code; null for codes other than GET, POST, PUT and DELETE.</summary>
    public static string? MethodOf(byte code) => code switch
    {
        CoapCodes.Get => "GET",
        CoapCodes.Post => "POST",
        CoapCodes.Put => "PUT",
        CoapCodes.Delete => "DELETE",
        _ => null,
    };

    public static byte MethodCode(string method) => method switch
    {
        "GET" => CoapCodes.Get,
        "POST" => CoapCodes.Post,
        "PUT" => CoapCodes.Put,
        "DELETE" => CoapCodes.Delete,
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "CoAP has GET, POST, PUT and DELETE"),
    };

    /// <summary>A CoAP response code for an HTTP status; unknown statuses map to the generic code of their class.</summary>
    public static byte ResponseCode(int status) =>
        s_statusToCode.TryGetValue(status, out var code) ? code : status switch
        {
            < 300 => CoapCodes.Content,
            < 500 => CoapCodes.BadRequest,
            _ => CoapCodes.InternalServerError,
        };

    public static int HttpStatus(byte code) =>
        s_codeToStatus.TryGetValue(code, out var status) ? status : (code >> 5) switch { 2 => 200, 4 => 400, _ => 500 };

    /// <summary>The Content-Format for a Content-Type (parameters such as charset ignored); null when there is none.</summary>
    public static ushort? ContentFormatOf(string? contentType)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return null;
        }

        var semicolon = contentType.IndexOf(';');
        var media = (semicolon < 0 ? contentType : contentType[..semicolon]).Trim().ToLowerInvariant();
        return media switch
        {
            "application/json" => CoapContentFormats.Json,
            "application/cbor" => CoapContentFormats.Cbor,
            "text/plain" => CoapContentFormats.TextPlain,
            _ => CoapContentFormats.OctetStream,
        };
    }

    public static string ContentTypeOf(ushort format) => format switch
    {
        CoapContentFormats.Json => "application/json",
        CoapContentFormats.Cbor => "application/cbor",
        CoapContentFormats.TextPlain => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    };
}
