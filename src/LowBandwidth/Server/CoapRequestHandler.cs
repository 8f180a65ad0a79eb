using MessengerProxy.LowBandwidth.Association;
using MessengerProxy.LowBandwidth.Bridge;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Mapping;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Server;

/// <summary>The answer to a CoAP request, and what the inbound pipeline answered when the request went there.</summary>
internal readonly record struct CoapExchange(CoapResponse Response, HttpResult? Upstream)
{
    /// <summary>An answer of the front door itself: nothing went upstream.</summary>
    public static implicit operator CoapExchange(CoapResponse response) => new(response, null);
}

/// <summary>
/// One CoAP request to its answer: translated (<see cref="CoapHttpTranslator"/>), with blockwise transfer in
/// both directions (RFC 7959): Block1 uploads assembled before the request goes out, large answers kept and
/// served block by block.
/// </summary>
internal sealed class CoapRequestHandler
{
    private readonly CoapHttpTranslator _translator;
    private readonly LowBandwidthOptions _options;
    private readonly TimeProvider _time;
    private readonly int _blockExponent;

    public CoapRequestHandler(CoapHttpTranslator translator, IOptions<LowBandwidthOptions> options, TimeProvider time)
    {
        _translator = translator;
        _options = options.Value;
        _time = time;
        _blockExponent = CoapBlock.ExponentOf(_options.BlockSize);
    }

    public async Task<CoapResponse> HandleAsync(CoapAssociation association, CoapMessage request, CancellationToken cancellationToken) =>
        (await ExchangeAsync(association, request, bodyKey: null, cancellationToken)).Response;

    /// <param name="bodyKey">Where a large answer is kept for its later blocks; by default the request's own method and target.</param>
    public async Task<CoapExchange> ExchangeAsync(CoapAssociation association, CoapMessage request, string? bodyKey, CancellationToken cancellationToken)
    {
        if (_translator.TryRead(request, association, out var target) is { } refused)
        {
            return refused;
        }

        // Later blocks of a response that was too large for one message come from the cache, not the homeserver.
        bodyKey ??= target.BodyKey;
        var block2 = RequestedBlock(request);
        if (association.Answers.TryServe(bodyKey, block2, _time.GetUtcNow()) is { } later)
        {
            return later;
        }

        // Request bodies too large for one message arrive in Block1 blocks and are assembled first.
        var payload = request.Payload;
        CoapBlock? block1 = null;
        if (request.Find(CoapOptionNumbers.Block1) is { } b1)
        {
            if (!CoapBlock.TryDecode(b1.UIntValue, out var block) || (block.More && request.Payload.Length != block.Size))
            {
                return _translator.Error(CoapCodes.BadRequest, "M_UNKNOWN", "Malformed Block1 option", association);
            }

            if (Upload(association, request, bodyKey, block, out var assembled) is { } step)
            {
                return step;
            }

            payload = assembled;
            block1 = block;
        }
        else if (payload.Length > _options.MaxRequestBodyBytes)
        {
            return TooLarge(association);
        }

        if (_translator.TryReadBody(request, payload, association, out var contentType, out var body) is { } unreadable)
        {
            return unreadable;
        }

        var result = await _translator.SendAsync(target, association, contentType, body, cancellationToken);
        var response = _translator.ToCoap(result, target, association);
        if (block1 is { } last)
        {
            response.Options.Add(last.ToOption(CoapOptionNumbers.Block1));
        }

        return new CoapExchange(association.Answers.Respond(response, bodyKey, block2, _blockExponent, _time.GetUtcNow()) ?? _translator.NoRoom(association), result);
    }

    /// <summary>The Block2 option of a request, when it has a valid one.</summary>
    public static CoapBlock? RequestedBlock(CoapMessage request) =>
        request.Find(CoapOptionNumbers.Block2) is { } option && CoapBlock.TryDecode(option.UIntValue, out var requested) ? requested : null;

    /// <summary>Takes one Block1 block: the answer to give now (2.31 Continue, or why the upload ended), or null with the whole body.</summary>
    private CoapResponse? Upload(CoapAssociation association, CoapMessage request, string bodyKey, CoapBlock block, out byte[] assembled)
    {
        assembled = [];
        var key = Convert.ToHexString(request.Token.Span) + " " + bodyKey;
        if (block.Offset + request.Payload.Length > _options.MaxRequestBodyBytes)
        {
            association.Uploads.End(key);
            var tooLarge = TooLarge(association);
            tooLarge.Options.Add(CoapOption.FromUInt(CoapOptionNumbers.Size1, (uint)_options.MaxRequestBodyBytes));
            return tooLarge;
        }

        var step = association.Uploads.Append(key, block.Number, request.Payload.Span, block.Size);
        if (step == UploadStep.Appended && block.More)
        {
            var next = new CoapResponse(CoapCodes.Continue);
            next.Options.Add(block.ToOption(CoapOptionNumbers.Block1));
            return next;
        }

        if (step == UploadStep.Appended && association.Uploads.Take(key) is { } whole)
        {
            assembled = whole;
            return null;
        }

        return step switch
        {
            UploadStep.NoRoom => _translator.NoRoom(association),
            UploadStep.OutOfOrder => _translator.Error(CoapCodes.RequestEntityIncomplete, "M_UNKNOWN", "Block1 blocks out of order; start again from block 0", association),
            _ => _translator.Error(CoapCodes.RequestEntityIncomplete, "M_UNKNOWN", $"The upload was dropped (no block for {_options.UploadIdleTimeout.TotalSeconds:0} s, or the memory was needed); start again from block 0", association),
        };
    }

    private CoapResponse TooLarge(CoapAssociation association) =>
        _translator.Error(CoapCodes.RequestEntityTooLarge, "M_TOO_LARGE", $"Request body is larger than {_options.MaxRequestBodyBytes} bytes", association);
}
