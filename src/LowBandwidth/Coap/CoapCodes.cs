namespace MessengerProxy.LowBandwidth.Coap;

/// <summary>
/// CoAP codes by name (RFC 7252 §12.1, RFC 7959 §2.9 for 2.31 and 4.08, RFC 8516 for 4.29): a code is
/// <c>class &lt;&lt; 5 | detail</c>, written <c>c.dd</c>.
/// </summary>
internal static class CoapCodes
{
    public const byte Empty = 0;

    public const byte Get = 1;
    public const byte Post = 2;
    public const byte Put = 3;
    public const byte Delete = 4;

    public const byte Created = (2 << 5) | 1;
    public const byte Deleted = (2 << 5) | 2;
    public const byte Valid = (2 << 5) | 3;
    public const byte Changed = (2 << 5) | 4;
    public const byte Content = (2 << 5) | 5;
    public const byte Continue = (2 << 5) | 31;

    public const byte BadRequest = (4 << 5) | 0;
    public const byte Unauthorized = (4 << 5) | 1;
    public const byte BadOption = (4 << 5) | 2;
    public const byte Forbidden = (4 << 5) | 3;
    public const byte NotFound = (4 << 5) | 4;
    public const byte MethodNotAllowed = (4 << 5) | 5;
    public const byte NotAcceptable = (4 << 5) | 6;
    public const byte RequestEntityIncomplete = (4 << 5) | 8;
    public const byte Conflict = (4 << 5) | 9;
    public const byte PreconditionFailed = (4 << 5) | 12;
    public const byte RequestEntityTooLarge = (4 << 5) | 13;
    public const byte UnsupportedContentFormat = (4 << 5) | 15;
    public const byte UnprocessableEntity = (4 << 5) | 22;
    public const byte TooManyRequests = (4 << 5) | 29;

    public const byte InternalServerError = (5 << 5) | 0;
    public const byte NotImplemented = (5 << 5) | 1;
    public const byte BadGateway = (5 << 5) | 2;
    public const byte ServiceUnavailable = (5 << 5) | 3;
    public const byte GatewayTimeout = (5 << 5) | 4;
    public const byte ProxyingNotSupported = (5 << 5) | 5;
}
