using System.Net;
using System.Security.Cryptography;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Mapping;

namespace MessengerProxy.LowBandwidthCli;

/// <summary>
/// A low-bandwidth Matrix client connection (one DTLS association, or a plain UDP socket): Matrix requests
/// as CoAP with path enums, the access token sent once, CBOR bodies, Block1/Block2.
/// </summary>
internal sealed class LowBandwidthClient : IDisposable
{
    private const int BlockSize = 1024;

    private readonly IClientTransport _transport;
    private readonly Exchange _exchange;
    private readonly CborJsonConverter _converter = new(CborKeyTable.V1);
    private string? _sentToken;
    private bool _sentKeyVersion;

    private LowBandwidthClient(IClientTransport transport, TextWriter? trace)
    {
        _transport = transport;
        _exchange = new Exchange(transport, trace);
    }

    public static async Task<LowBandwidthClient> ConnectAsync(Uri uri, string? caPath, bool insecure, TextWriter? trace = null)
    {
        var addresses = await Dns.GetHostAddressesAsync(uri.Host);
        if (addresses.Length == 0)
        {
            throw new UsageException($"{uri.Host} does not resolve");
        }

        var server = new IPEndPoint(addresses[0], uri.IsDefaultPort ? (uri.Scheme == "coaps" ? 5684 : 5683) : uri.Port);
        IClientTransport transport = uri.Scheme == "coaps"
            ? new DtlsClientTransport(server, caPath, insecure, TimeSpan.FromSeconds(30))
            : new UdpClientTransport(server);
        return new LowBandwidthClient(transport, trace);
    }

    /// <summary>Sends one request; the answer (its first message) and its whole payload, or null when none came.</summary>
    public (CoapMessage? Response, byte[] Payload) Send(string method, string path, string query, string? token, byte[]? json, bool integerKeys, bool useEnums = true)
    {
        var segments = useEnums ? CoapPathTable.V1.Shorten(path) : path.TrimStart('/').Split('/').Select(Uri.UnescapeDataString).ToList();
        var body = json is null ? [] : _converter.JsonToCbor(json, integerKeys);
        var requestToken = RandomNumberGenerator.GetBytes(4);
        var sendToken = token is not null && token != _sentToken;
        var sendVersion = integerKeys && !_sentKeyVersion;

        CoapMessage Build(CoapBlock? block1, CoapBlock? block2)
        {
            var message = new CoapMessage { Type = CoapType.Confirmable, Code = HttpCoapCodes.MethodCode(method), Token = requestToken };
            foreach (var segment in segments)
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, segment));
            }

            foreach (var pair in query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.UriQuery, Uri.UnescapeDataString(pair)));
            }

            // MSC3079: the token once per connection, the key table version likewise.
            if (sendToken && block2 is null && (block1 is null || block1.Value.Number == 0))
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.AccessToken, token!));
            }

            if (sendVersion && block2 is null && (block1 is null || block1.Value.Number == 0))
            {
                message.Add(CoapOption.FromUInt(CoapOptionNumbers.CborVersion, 1));
            }

            if (body.Length > 0 && block2 is null)
            {
                message.Add(CoapOption.FromUInt(CoapOptionNumbers.ContentFormat, CoapContentFormats.Cbor));
            }

            if (block1 is { } b1)
            {
                message.Add(b1.ToOption(CoapOptionNumbers.Block1));
                if (b1.Number == 0)
                {
                    message.Add(CoapOption.FromUInt(CoapOptionNumbers.Size1, (uint)body.Length));
                }

                message.Payload = body.AsMemory((int)b1.Offset, (int)Math.Min(b1.Size, body.Length - b1.Offset));
            }
            else if (block2 is null)
            {
                message.Payload = body;
            }

            if (block2 is { } b2)
            {
                message.Add(b2.ToOption(CoapOptionNumbers.Block2));
            }

            return message;
        }

        CoapMessage? response;
        if (body.Length > BlockSize)
        {
            response = null;
            for (var number = 0u; number * BlockSize < body.Length; number++)
            {
                var more = (number + 1) * BlockSize < body.Length;
                response = _exchange.Request(Build(new CoapBlock(number, more, CoapBlock.ExponentOf(BlockSize)), null));
                if (response is null || (more && response.Code != CoapMessage.MakeCode(2, 31)))
                {
                    break;
                }
            }
        }
        else
        {
            response = _exchange.Request(Build(null, null));
        }

        if (response is null)
        {
            return (null, []);
        }

        if (sendToken)
        {
            _sentToken = token;
        }

        _sentKeyVersion |= sendVersion;

        // Large answers come in Block2 blocks: fetch the rest.
        using var payload = new MemoryStream();
        payload.Write(response.Payload.Span);
        var last = response;
        while (last.Find(CoapOptionNumbers.Block2) is { } option && CoapBlock.TryDecode(option.UIntValue, out var block) && block.More)
        {
            var next = _exchange.Request(Build(null, new CoapBlock(block.Number + 1, false, block.SizeExponent)));
            if (next is null)
            {
                return (null, []);
            }

            payload.Write(next.Payload.Span);
            last = next;
        }

        return (response, payload.ToArray());
    }

    public void Dispose() => _transport.Dispose();

    /// <summary>The client side of the CoAP message layer: CON with retransmission, separate responses.</summary>
    private sealed class Exchange(IClientTransport transport, TextWriter? trace)
    {
        private ushort _messageId = (ushort)RandomNumberGenerator.GetInt32(ushort.MaxValue);

        public CoapMessage? Request(CoapMessage request)
        {
            request.MessageId = ++_messageId;
            var bytes = request.Serialize();
            var timeout = TimeSpan.FromSeconds(2 + (RandomNumberGenerator.GetInt32(1000) / 1000.0));
            var acknowledged = false;
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(2);
            for (var attempt = 0; DateTime.UtcNow < deadline;)
            {
                if (!acknowledged)
                {
                    if (attempt++ > 4)
                    {
                        return null;
                    }

                    trace?.WriteLine($"> {request}");
                    transport.Send(bytes);
                }

                var datagram = transport.Receive(acknowledged ? deadline - DateTime.UtcNow : timeout);
                if (datagram is null)
                {
                    timeout *= 2;
                    continue;
                }

                if (CoapMessage.TryParse(datagram, out var message) != CoapFormatError.None)
                {
                    continue;
                }

                trace?.WriteLine($"< {message}");
                if (message.Type == CoapType.Acknowledgement && message.MessageId == request.MessageId)
                {
                    if (!message.IsEmpty)
                    {
                        return message;
                    }

                    acknowledged = true;
                }
                else if (message.Type is CoapType.Confirmable or CoapType.NonConfirmable && message.Token.Span.SequenceEqual(request.Token.Span))
                {
                    if (message.Type == CoapType.Confirmable)
                    {
                        transport.Send(new CoapMessage { Type = CoapType.Acknowledgement, MessageId = message.MessageId }.Serialize());
                    }

                    return message;
                }
                else if (message.Type == CoapType.Reset && message.MessageId == request.MessageId)
                {
                    return null;
                }
            }

            return null;
        }
    }
}
