using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.LowBandwidth.Mapping;

/// <summary>HTTP ⇄ CoAP methods, status codes and content formats (RFC 8075 §7, RFC 8132, RFC 8516), as tables.</summary>
public static class HttpCoapCodes
{
    private static readonly Dictionary<int, byte> s_statusToCode = new()
    {
        [200] = Code(2, 5), [201] = Code(2, 1), [202] = Code(2, 5), [204] = Code(2, 4), [304] = Code(2, 3),
        [400] = Code(4, 0), [401] = Code(4, 1), [403] = Code(4, 3), [404] = Code(4, 4), [405] = Code(4, 5),
        [406] = Code(4, 6), [408] = Code(4, 8), [409] = Code(4, 9), [412] = Code(4, 12), [413] = Code(4, 13),
        [415] = Code(4, 15), [422] = Code(4, 22), [429] = Code(4, 29),
        [500] = Code(5, 0), [501] = Code(5, 1), [502] = Code(5, 2), [503] = Code(5, 3), [504] = Code(5, 4),
    };

    private static readonly Dictionary<byte, int> s_codeToStatus = new()
    {
        [Code(2, 1)] = 201, [Code(2, 2)] = 200, [Code(2, 3)] = 304, [Code(2, 4)] = 200, [Code(2, 5)] = 200, [Code(2, 31)] = 200,
        [Code(4, 0)] = 400, [Code(4, 1)] = 401, [Code(4, 2)] = 400, [Code(4, 3)] = 403, [Code(4, 4)] = 404, [Code(4, 5)] = 405,
        [Code(4, 6)] = 406, [Code(4, 8)] = 408, [Code(4, 9)] = 409, [Code(4, 12)] = 412, [Code(4, 13)] = 413, [Code(4, 15)] = 415,
        [Code(4, 22)] = 422, [Code(4, 29)] = 429,
        [Code(5, 0)] = 500, [Code(5, 1)] = 501, [Code(5, 2)] = 502, [Code(5, 3)] = 503, [Code(5, 4)] = 504, [Code(5, 5)] = 502,
    };

    public static byte Code(int @class, int detail) => CoapMessage.MakeCode(@class, detail);

    /// <summary>The method of a CoAP request code; null for codes other than GET, POST, PUT and DELETE.</summary>
    public static string? MethodOf(byte code) => code switch
    {
        1 => "GET",
        2 => "POST",
        3 => "PUT",
        4 => "DELETE",
        _ => null,
    };

    public static byte MethodCode(string method) => method switch
    {
        "GET" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, "CoAP has GET, POST, PUT and DELETE"),
    };

    /// <summary>A CoAP response code for an HTTP status; unknown statuses map to the generic code of their class.</summary>
    public static byte ResponseCode(int status) =>
        s_statusToCode.TryGetValue(status, out var code) ? code : status switch
        {
            < 300 => Code(2, 5),
            < 500 => Code(4, 0),
            _ => Code(5, 0),
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
