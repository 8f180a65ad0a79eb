using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.LowBandwidth.Mapping;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>
/// Turns one CoAP request into an HTTP request for the inbound pipeline and its answer back into CoAP:
/// path enums, Uri-Query in order, sticky access token and CBOR version, CBOR ⇄ JSON, status codes,
/// content formats, and blockwise transfer in both directions (RFC 7959).
/// </summary>
internal sealed class CoapRequestHandler
{
    // Options this server understands; an unknown critical (odd) option in a request is a 4.02 (RFC 7252 §5.4.1).
    private static readonly HashSet<ushort> s_known =
    [
        CoapOptionNumbers.IfMatch, CoapOptionNumbers.UriHost, CoapOptionNumbers.ETag, CoapOptionNumbers.IfNoneMatch, CoapOptionNumbers.Observe,
        CoapOptionNumbers.UriPort, CoapOptionNumbers.UriPath, CoapOptionNumbers.ContentFormat, CoapOptionNumbers.UriQuery, CoapOptionNumbers.Accept,
        CoapOptionNumbers.Block2, CoapOptionNumbers.Block1, CoapOptionNumbers.Size2, CoapOptionNumbers.Size1,
        CoapOptionNumbers.AccessToken, CoapOptionNumbers.CborVersion, CoapOptionNumbers.NoResponse,
    ];

    private static readonly TimeSpan s_bodyLifetime = TimeSpan.FromMinutes(2);

    private readonly InboundBridge _bridge;
    private readonly CborJsonConverter _cbor;
    private readonly CoapPathTable _paths;
    private readonly LowBandwidthOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly LowBandwidthMetrics _metrics;
    private readonly int _blockExponent;

    public CoapRequestHandler(InboundBridge bridge, IOptions<LowBandwidthOptions> options, TimeProvider time, LowBandwidthMetrics metrics, ILogger<CoapRequestHandler> logger)
    {
        _bridge = bridge;
        _metrics = metrics;
        _options = options.Value;
        _cbor = new CborJsonConverter(CborKeyTable.V1, _options.MaxCborDepth);
        _paths = CoapPathTable.V1;
        _time = time;
        _logger = logger;
        _blockExponent = CoapBlock.ExponentOf(_options.BlockSize);
    }

    /// <param name="onResult">Sees the homeserver's answer before it is converted (the /sync observer reads next_batch from it).</param>
    /// <param name="bodyKey">Where a large answer is kept for its later blocks; by default the request's own method and target.</param>
    public async Task<CoapResponse> HandleAsync(CoapAssociation association, CoapMessage request, CancellationToken cancellationToken,
        Action<HttpResult>? onResult = null, string? bodyKey = null)
    {
        foreach (var option in request.Options)
        {
            if (option.Number == CoapOptionNumbers.ProxyUri || option.Number == CoapOptionNumbers.ProxyScheme)
            {
                return Error(HttpCoapCodes.Code(5, 5), "M_UNRECOGNIZED", "This is not a forward proxy", association);
            }

            if (CoapOptionNumbers.IsCritical(option.Number) && !s_known.Contains(option.Number))
            {
                return Error(HttpCoapCodes.Code(4, 2), "M_UNRECOGNIZED", $"Unsupported critical option {option.Number}", association);
            }
        }

        var method = HttpCoapCodes.MethodOf(request.Code);
        if (method is null)
        {
            return Error(HttpCoapCodes.Code(4, 5), "M_UNRECOGNIZED", $"Method code {CoapMessage.FormatCode(request.Code)} is not supported", association);
        }

        // Refused before anything sticks to the association or an HTTP request exists (which would fail upstream).
        if (!TryGetSegments(request, out var segments) || !TryGetQuery(request, out var query))
        {
            return Error(HttpCoapCodes.Code(4, 0), "M_UNKNOWN", "Uri-Path and Uri-Query options must be UTF-8", association);
        }

        if (request.Find(CoapOptionNumbers.AccessToken) is { } token)
        {
            if (!CoapOptionText.TryGetAccessToken(token.Value.Span, out var accessToken))
            {
                return Error(HttpCoapCodes.Code(4, 0), "M_UNKNOWN", "The access token (option 256) must be visible ASCII characters, without spaces", association);
            }

            association.AccessToken = accessToken;
        }

        if (request.Find(CoapOptionNumbers.CborVersion) is { } version)
        {
            association.CborVersion = (int)Math.Min(version.UIntValue, (uint)_cbor.Keys.Version);
        }

        var pathError = _paths.TryExpand(segments, out var path);
        if (pathError != CoapPathError.None)
        {
            return Error(HttpCoapCodes.Code(4, 4), "M_UNRECOGNIZED", pathError switch
            {
                CoapPathError.MissingParameters => $"Path enum {segments[0]} needs more path segments",
                CoapPathError.ExtraSegments => $"Path enum {segments[0]} has too many path segments",
                _ => "The request has no path",
            }, association);
        }

        var target = path + query;
        bodyKey ??= BodyKey(method, target);

        // Later blocks of a response that was too large for one message come from the cache, not the homeserver.
        var block2 = request.Find(CoapOptionNumbers.Block2) is { } b2 && CoapBlock.TryDecode(b2.UIntValue, out var requested) ? requested : (CoapBlock?)null;
        if (block2 is { Number: > 0 } && association.FindBody(bodyKey, _time.GetUtcNow()) is { } cached)
        {
            return Slice(cached, block2.Value, association);
        }

        // Request bodies too large for one message arrive in Block1 blocks and are assembled first.
        var payload = request.Payload;
        CoapBlock? block1 = null;
        if (request.Find(CoapOptionNumbers.Block1) is { } b1)
        {
            if (!CoapBlock.TryDecode(b1.UIntValue, out var block) || (block.More && request.Payload.Length != block.Size))
            {
                return Error(HttpCoapCodes.Code(4, 0), "M_UNKNOWN", "Malformed Block1 option", association);
            }

            var uploadKey = Convert.ToHexString(request.Token.Span) + " " + bodyKey;
            if (block.Offset + request.Payload.Length > _options.MaxRequestBodyBytes)
            {
                association.EndUpload(uploadKey);
                var tooLarge = Error(HttpCoapCodes.Code(4, 13), "M_TOO_LARGE", $"Request body is larger than {_options.MaxRequestBodyBytes} bytes", association);
                tooLarge.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Size1, (uint)_options.MaxRequestBodyBytes));
                return tooLarge;
            }

            var step = association.Upload(uploadKey, block.Number, request.Payload.Span, block.Size);
            if (step == UploadStep.Appended && block.More)
            {
                var next = new CoapResponse(HttpCoapCodes.Code(2, 31));
                next.Options.Add(block.ToOption(CoapOptionNumbers.Block1));
                return next;
            }

            var assembled = step == UploadStep.Appended ? association.TakeUpload(uploadKey) : null;
            if (assembled is null)
            {
                return step switch
                {
                    UploadStep.NoRoom => NoRoom(association),
                    UploadStep.OutOfOrder => Error(HttpCoapCodes.Code(4, 8), "M_UNKNOWN", "Block1 blocks out of order; start again from block 0", association),
                    _ => Error(HttpCoapCodes.Code(4, 8), "M_UNKNOWN", $"The upload was dropped (no block for {_options.UploadIdleTimeout.TotalSeconds:0} s, or the memory was needed); start again from block 0", association),
                };
            }

            payload = assembled;
            block1 = block;
        }
        else if (payload.Length > _options.MaxRequestBodyBytes)
        {
            return Error(HttpCoapCodes.Code(4, 13), "M_TOO_LARGE", $"Request body is larger than {_options.MaxRequestBodyBytes} bytes", association);
        }

        string? contentType = null;
        byte[] body = [];
        if (!payload.IsEmpty)
        {
            var format = request.Find(CoapOptionNumbers.ContentFormat)?.UIntValue;
            if (format is null or CoapContentFormats.Cbor)
            {
                bool usedIntegerKeys;
                try
                {
                    body = _cbor.CborToJson(payload, out usedIntegerKeys);
                }
                catch (CborConversionException ex)
                {
                    return Error(HttpCoapCodes.Code(4, 0), "M_NOT_JSON", ex.Message, association);
                }

                if (usedIntegerKeys && association.CborVersion == 0)
                {
                    // MSC3079: a client that sends integer keys speaks version 1.
                    association.CborVersion = 1;
                }

                contentType = "application/json";
            }
            else
            {
                body = payload.ToArray();
                contentType = HttpCoapCodes.ContentTypeOf((ushort)format.Value);
            }
        }

        var result = await _bridge.SendAsync(new HttpCall(method, target, association.AccessToken, contentType, body), association.Peer, cancellationToken);
        Log.Request(_logger, association.Peer.ToString(), method, path, result.StatusCode);
        onResult?.Invoke(result);

        var response = ToCoap(result, method, path, association);
        if (block1 is { } last)
        {
            response.Options.Add(last.ToOption(CoapOptionNumbers.Block1));
        }

        var exponent = Math.Min(_blockExponent, block2?.SizeExponent ?? _blockExponent);
        var blockSize = 16 << exponent;
        if (response.Payload.Length <= blockSize && block2 is null)
        {
            return response;
        }

        var whole = new CachedBody(response.Code, ContentFormatOf(response), response.Payload.ToArray(), _time.GetUtcNow() + s_bodyLifetime);
        if (!association.CacheBody(bodyKey, whole, _time.GetUtcNow()))
        {
            return NoRoom(association);
        }

        return Slice(whole, new CoapBlock(block2?.Number ?? 0, false, exponent), association);
    }

    /// <summary>The Matrix path and query a request translates to, or null when its path is refused.</summary>
    public string? TargetOf(CoapMessage request) =>
        TryGetSegments(request, out var segments) && TryGetQuery(request, out var query) && _paths.TryExpand(segments, out var path) == CoapPathError.None
            ? path + query
            : null;

    public static string BodyKey(string method, string target) => method + " " + target;

    private CoapResponse ToCoap(HttpResult result, string method, string path, CoapAssociation association)
    {
        var response = new CoapResponse(HttpCoapCodes.ResponseCode(result.StatusCode));
        if (result.Body.Length == 0)
        {
            return response;
        }

        var format = HttpCoapCodes.ContentFormatOf(result.ContentType);
        if (format == CoapContentFormats.Json)
        {
            var json = RewriteBaseUrl(result.Body, method, path);
            try
            {
                response.Payload = _cbor.JsonToCbor(json, integerKeys: association.CborVersion >= 1 || _options.IntegerKeysByDefault);
                response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
                return response;
            }
            catch (CborConversionException)
            {
                // Not JSON after all: the client gets it as it is, labelled as what it claims to be.
            }
        }

        response.Payload = result.Body;
        if (format is { } known)
        {
            response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, known));
        }

        return response;
    }

    /// <summary>Points clients that log in or discover through the front door back at it (as lb's -advertise does).</summary>
    private byte[] RewriteBaseUrl(byte[] json, string method, string path)
    {
        if (string.IsNullOrEmpty(_options.AdvertisedBaseUrl))
        {
            return json;
        }

        var login = method == "POST" && path == "/_matrix/client/v3/login";
        var wellKnown = method == "GET" && path == "/.well-known/matrix/client";
        if (!login && !wellKnown)
        {
            return json;
        }

        try
        {
            if (JsonNode.Parse(json) is not JsonObject document)
            {
                return json;
            }

            var holder = login ? document["well_known"] as JsonObject : document;
            if (holder?["m.homeserver"] is JsonObject homeserver && homeserver.ContainsKey("base_url"))
            {
                homeserver["base_url"] = _options.AdvertisedBaseUrl;
                return Encoding.UTF8.GetBytes(document.ToJsonString());
            }
        }
        catch (JsonException)
        {
        }

        return json;
    }

    private static CoapResponse Slice(CachedBody body, CoapBlock requested, CoapAssociation association)
    {
        var size = requested.Size;
        var offset = requested.Offset;
        if (offset >= body.Payload.Length && !(offset == 0 && body.Payload.Length == 0))
        {
            return new CoapResponse(HttpCoapCodes.Code(4, 2));
        }

        var length = (int)Math.Min(size, body.Payload.Length - offset);
        var more = offset + length < body.Payload.Length;
        var response = new CoapResponse(body.Code) { Payload = body.Payload.AsMemory((int)offset, length) };
        if (body.ContentFormat is { } format)
        {
            response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, format));
        }

        response.Options.Add(new CoapBlock(requested.Number, more, requested.SizeExponent).ToOption(CoapOptionNumbers.Block2));
        if (requested.Number == 0)
        {
            response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Size2, (uint)body.Payload.Length));
        }

        return response;
    }

    private static ushort? ContentFormatOf(CoapResponse response)
    {
        foreach (var option in response.Options)
        {
            if (option.Number == CoapOptionNumbers.ContentFormat)
            {
                return (ushort)option.UIntValue;
            }
        }

        return null;
    }

    private static bool TryGetSegments(CoapMessage request, out List<string> segments)
    {
        segments = [];
        foreach (var option in request.All(CoapOptionNumbers.UriPath))
        {
            if (!CoapOptionText.TryGetString(option.Value.Span, out var segment))
            {
                return false;
            }

            segments.Add(segment);
        }

        return true;
    }

    /// <summary>Uri-Query options, in their order, each <c>key=value</c> percent-encoded again; false when one is not UTF-8.</summary>
    private static bool TryGetQuery(CoapMessage request, out string query)
    {
        query = string.Empty;
        StringBuilder? builder = null;
        foreach (var option in request.All(CoapOptionNumbers.UriQuery))
        {
            if (!CoapOptionText.TryGetString(option.Value.Span, out var text))
            {
                return false;
            }

            var equals = text.IndexOf('=');
            builder = builder is null ? new StringBuilder("?") : builder.Append('&');
            builder.Append(Uri.EscapeDataString(equals < 0 ? text : text[..equals]));
            if (equals >= 0)
            {
                builder.Append('=').Append(Uri.EscapeDataString(text[(equals + 1)..]));
            }
        }

        query = builder?.ToString() ?? string.Empty;
        return true;
    }

    /// <summary>The answer when an association has too many requests in progress.</summary>
    public CoapResponse Overloaded(CoapAssociation association)
    {
        var response = Error(HttpCoapCodes.Code(5, 3), "M_LIMIT_EXCEEDED", $"More than {_options.MaxRequestsInFlight} requests in progress on this connection", association);
        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.MaxAge, 1));
        return response;
    }

    /// <summary>The answer when a body needs more memory than the whole <see cref="BodyBudget"/> (<see cref="LowBandwidthOptions.MaxBufferedBodyBytes"/>).</summary>
    private CoapResponse NoRoom(CoapAssociation association) =>
        Error(HttpCoapCodes.Code(5, 3), "M_LIMIT_EXCEEDED", $"The body is larger than the {_options.MaxBufferedBodyBytes} bytes the front door can hold for blockwise transfer", association);

    /// <summary>An answer of the front door itself, in the Matrix error format, as CBOR.</summary>
    private CoapResponse Error(byte code, string errcode, string message, CoapAssociation association)
    {
        _metrics.RequestRejected(CoapMessage.FormatCode(code), errcode);
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["errcode"] = errcode, ["error"] = message });
        var response = new CoapResponse(code) { Payload = _cbor.JsonToCbor(json, association.CborVersion >= 1 || _options.IntegerKeysByDefault) };
        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
        return response;
    }
}
