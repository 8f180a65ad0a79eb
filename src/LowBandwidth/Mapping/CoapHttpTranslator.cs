using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Mapping;

/// <summary>The Matrix request a CoAP request stands for, with the traits of its row in the inbound table (null when it has none).</summary>
internal sealed record CoapTarget(string Method, string Path, string Query, EndpointTraits? Traits, string Endpoint)
{
    /// <summary>Path and query as sent to the inbound pipeline.</summary>
    public string RawTarget { get; } = Path + Query;

    /// <summary>Where a large answer to it is kept for its later blocks.</summary>
    public string BodyKey => Method + " " + RawTarget;
}

/// <summary>
/// CoAP ⇄ HTTP for one request, used alike by the request handler and the /sync observer: options, method,
/// path enums, Uri-Query in order, the sticky access token and CBOR version, CBOR ⇄ JSON bodies, the call into
/// the inbound pipeline, status codes and content formats, base URLs pointed back at the front door, and the
/// front door's own errors in the Matrix format.
/// </summary>
internal sealed class CoapHttpTranslator
{
    // Options this server understands; an unknown critical (odd) option in a request is a 4.02 (RFC 7252 §5.4.1).
    private static readonly HashSet<ushort> s_known =
    [
        CoapOptionNumbers.IfMatch, CoapOptionNumbers.UriHost, CoapOptionNumbers.ETag, CoapOptionNumbers.IfNoneMatch, CoapOptionNumbers.Observe,
        CoapOptionNumbers.UriPort, CoapOptionNumbers.UriPath, CoapOptionNumbers.ContentFormat, CoapOptionNumbers.UriQuery, CoapOptionNumbers.Accept,
        CoapOptionNumbers.Block2, CoapOptionNumbers.Block1, CoapOptionNumbers.Size2, CoapOptionNumbers.Size1,
        CoapOptionNumbers.AccessToken, CoapOptionNumbers.CborVersion, CoapOptionNumbers.NoResponse,
    ];

    private readonly InboundBridge _bridge;
    private readonly EndpointMatcher _endpoints;
    private readonly CborJsonConverter _cbor;
    private readonly CoapPathTable _paths;
    private readonly LowBandwidthOptions _options;
    private readonly LowBandwidthMetrics _metrics;
    private readonly ILogger _logger;

    public CoapHttpTranslator(InboundBridge bridge, InboundEndpoints endpoints, IOptions<LowBandwidthOptions> options, LowBandwidthMetrics metrics, ILogger<CoapHttpTranslator> logger)
    {
        _bridge = bridge;

        // The front door is a client listener: the rows it serves, as the pipeline will match them.
        _endpoints = endpoints.MatcherFor(ListenerApis.Client);
        _options = options.Value;
        _cbor = new CborJsonConverter(CborKeyTable.V1, _options.MaxCborDepth);
        _paths = CoapPathTable.V1;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// Reads a request's target and makes its access token and CBOR version stick to the association; the
    /// front door's refusal when it cannot (before anything sticks or an HTTP request exists), else null.
    /// </summary>
    public CoapResponse? TryRead(CoapMessage request, CoapAssociation association, out CoapTarget target)
    {
        target = null!;
        foreach (var option in request.Options)
        {
            if (option.Number == CoapOptionNumbers.ProxyUri || option.Number == CoapOptionNumbers.ProxyScheme)
            {
                return Error(CoapCodes.ProxyingNotSupported, "M_UNRECOGNIZED", "This is not a forward proxy", association);
            }

            if (CoapOptionNumbers.IsCritical(option.Number) && !s_known.Contains(option.Number))
            {
                return Error(CoapCodes.BadOption, "M_UNRECOGNIZED", $"Unsupported critical option {option.Number}", association);
            }
        }

        var method = HttpCoapCodes.MethodOf(request.Code);
        if (method is null)
        {
            return Error(CoapCodes.MethodNotAllowed, "M_UNRECOGNIZED", $"Method code {CoapMessage.FormatCode(request.Code)} is not supported", association);
        }

        if (!TryGetSegments(request, out var segments) || !TryGetQuery(request, out var query))
        {
            return Error(CoapCodes.BadRequest, "M_UNKNOWN", "Uri-Path and Uri-Query options must be UTF-8", association);
        }

        if (request.Find(CoapOptionNumbers.AccessToken) is { } token)
        {
            if (!CoapOptionText.TryGetAccessToken(token.Value.Span, out var accessToken))
            {
                return Error(CoapCodes.BadRequest, "M_UNKNOWN", "The access token (option 256) must be visible ASCII characters, without spaces", association);
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
            return Error(CoapCodes.NotFound, "M_UNRECOGNIZED", pathError switch
            {
                CoapPathError.MissingParameters => $"Path enum {segments[0]} needs more path segments",
                CoapPathError.ExtraSegments => $"Path enum {segments[0]} has too many path segments",
                _ => "The request has no path",
            }, association);
        }

        target = Target(method, path, query);
        return null;
    }

    /// <summary>The target a request translates to, without touching any association; null when it would be refused.</summary>
    public CoapTarget? TargetOf(CoapMessage request) =>
        HttpCoapCodes.MethodOf(request.Code) is { } method && TryGetSegments(request, out var segments) && TryGetQuery(request, out var query)
            && _paths.TryExpand(segments, out var path) == CoapPathError.None
            ? Target(method, path, query)
            : null;

    /// <summary>A request payload as the HTTP body (CBOR becomes JSON); the refusal when it cannot be, else null.</summary>
    public CoapResponse? TryReadBody(CoapMessage request, ReadOnlyMemory<byte> payload, CoapAssociation association, out string? contentType, out byte[] body)
    {
        contentType = null;
        body = [];
        if (payload.IsEmpty)
        {
            return null;
        }

        var format = request.Find(CoapOptionNumbers.ContentFormat)?.UIntValue;
        if (format is not (null or CoapContentFormats.Cbor))
        {
            body = payload.ToArray();
            contentType = HttpCoapCodes.ContentTypeOf((ushort)format.Value);
            return null;
        }

        bool usedIntegerKeys;
        try
        {
            body = _cbor.CborToJson(payload, out usedIntegerKeys);
        }
        catch (CborConversionException ex)
        {
            return Error(CoapCodes.BadRequest, "M_NOT_JSON", ex.Message, association);
        }

        if (usedIntegerKeys && association.CborVersion == 0)
        {
            // MSC3079: a client that sends integer keys speaks version 1.
            association.CborVersion = 1;
        }

        contentType = "application/json";
        return null;
    }

    /// <summary>Runs the translated request through the inbound pipeline.</summary>
    public async Task<HttpResult> SendAsync(CoapTarget target, CoapAssociation association, string? contentType, byte[] body, CancellationToken cancellationToken)
    {
        var result = await _bridge.SendAsync(new HttpCall(target.Method, target.RawTarget, association.AccessToken, contentType, body), association.Peer, cancellationToken);
        Log.Request(_logger, association.Peer, target.Method, target.Endpoint, result.StatusCode);
        return result;
    }

    /// <summary>The pipeline's answer as CoAP: mapped code, JSON as CBOR (text or integer keys, as the association speaks), other bodies as they are.</summary>
    public CoapResponse ToCoap(HttpResult result, CoapTarget target, CoapAssociation association)
    {
        var response = new CoapResponse(HttpCoapCodes.ResponseCode(result.StatusCode));
        if (result.Body.Length == 0)
        {
            return response;
        }

        var format = HttpCoapCodes.ContentFormatOf(result.ContentType);
        if (format == CoapContentFormats.Json)
        {
            var json = RewriteBaseUrl(result.Body, target.Traits?.BaseUrlAnswer ?? BaseUrlAnswer.None);
            try
            {
                response.Payload = _cbor.JsonToCbor(json, integerKeys: IntegerKeys(association));
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

    /// <summary>The answer when an association has too many requests in progress.</summary>
    public CoapResponse Overloaded(CoapAssociation association)
    {
        var response = Error(CoapCodes.ServiceUnavailable, "M_LIMIT_EXCEEDED", $"More than {_options.MaxRequestsInFlight} requests in progress on this connection", association);
        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.MaxAge, 1));
        return response;
    }

    /// <summary>The answer when a body needs more memory than the whole <see cref="BodyBudget"/> (<see cref="LowBandwidthOptions.MaxBufferedBodyBytes"/>).</summary>
    public CoapResponse NoRoom(CoapAssociation association) =>
        Error(CoapCodes.ServiceUnavailable, "M_LIMIT_EXCEEDED", $"The body is larger than the {_options.MaxBufferedBodyBytes} bytes the front door can hold for blockwise transfer", association);

    /// <summary>An answer of the front door itself, in the Matrix error format, as CBOR.</summary>
    public CoapResponse Error(byte code, string errcode, string message, CoapAssociation association)
    {
        _metrics.RequestRejected(CoapMessage.FormatCode(code), errcode);
        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["errcode"] = errcode, ["error"] = message });
        var response = new CoapResponse(code) { Payload = _cbor.JsonToCbor(json, IntegerKeys(association)) };
        response.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
        return response;
    }

    private bool IntegerKeys(CoapAssociation association) => association.CborVersion >= 1 || _options.IntegerKeysByDefault;

    private CoapTarget Target(string method, string path, string query) =>
        _endpoints.Match(method, path) is { Status: EndpointMatchStatus.Matched, Endpoint: { } endpoint }
            ? new CoapTarget(method, path, query, endpoint.Traits, endpoint.Template.Text)
            : new CoapTarget(method, path, query, null, "(not in the table)");

    /// <summary>Points clients that log in or discover through the front door back at it (as lb's -advertise does).</summary>
    private byte[] RewriteBaseUrl(byte[] json, BaseUrlAnswer answer)
    {
        if (string.IsNullOrEmpty(_options.AdvertisedBaseUrl) || answer == BaseUrlAnswer.None)
        {
            return json;
        }

        try
        {
            if (JsonNode.Parse(json) is not JsonObject document)
            {
                return json;
            }

            var holder = answer == BaseUrlAnswer.Login ? document["well_known"] as JsonObject : document;
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
}
