using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using MessengerProxy.LowBandwidth.Cbor;
using MessengerProxy.LowBandwidth.Coap;
using MessengerProxy.LowBandwidth.Mapping;

namespace MessengerProxy.LowBandwidthCli;

/// <summary>
/// One Matrix request through the front door, as lb's <c>coap</c> tool does it: path enums, token in option
/// 256, CBOR body, confirmable request retransmitted with backoff, separate responses acknowledged,
/// Block1 for large bodies and Block2 for large answers; prints the answer as JSON.
/// </summary>
internal static class CoapClientCommand
{
    private const int BlockSize = 1024;

    public static async Task<int> RunAsync(string method, string url, string[] options, Stream stdout, TextWriter stderr)
    {
        Cli.CheckNoOther(options.Where((o, i) => i == 0 || !IsValueOption(options[i - 1])).ToArray(),
            "--token", "--data", "--integer-keys", "--ca", "--insecure", "--no-enums", "--verbose");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("coap" or "coaps"))
        {
            throw new UsageException($"'{url}' is not a coap:// or coaps:// URL");
        }

        var token = Cli.Value(options, "--token");
        var data = Cli.Value(options, "--data");
        var integerKeys = Cli.Flag(options, "--integer-keys");
        var verbose = Cli.Flag(options, "--verbose");
        var ca = Cli.Value(options, "--ca");
        var insecure = Cli.Flag(options, "--insecure");
        if (uri.Scheme == "coaps" && ca is null && !insecure)
        {
            throw new UsageException("coaps:// needs --ca FILE (or --insecure)");
        }

        var addresses = await Dns.GetHostAddressesAsync(uri.Host);
        if (addresses.Length == 0)
        {
            throw new UsageException($"{uri.Host} does not resolve");
        }

        var server = new IPEndPoint(addresses[0], uri.IsDefaultPort ? (uri.Scheme == "coaps" ? 5684 : 5683) : uri.Port);
        using IClientTransport transport = uri.Scheme == "coaps"
            ? new DtlsClientTransport(server, ca, insecure, TimeSpan.FromSeconds(30))
            : new UdpClientTransport(server);

        var converter = new CborJsonConverter(CborKeyTable.V1);
        var segments = Cli.Flag(options, "--no-enums")
            ? uri.AbsolutePath.TrimStart('/').Split('/').Select(Uri.UnescapeDataString).ToList()
            : CoapPathTable.V1.Shorten(uri.AbsolutePath);
        var body = data is null ? [] : converter.JsonToCbor(Encoding.UTF8.GetBytes(data), integerKeys);
        var client = new Exchange(transport, verbose ? stderr : null);
        var requestToken = RandomNumberGenerator.GetBytes(4);

        CoapMessage Build(CoapBlock? block1, CoapBlock? block2, bool first)
        {
            var message = new CoapMessage { Type = CoapType.Confirmable, Code = HttpCoapCodes.MethodCode(method), Token = requestToken };
            foreach (var segment in segments)
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, segment));
            }

            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.UriQuery, Uri.UnescapeDataString(pair)));
            }

            if (first && token is not null)
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.AccessToken, token));
            }

            if (first && integerKeys)
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
                response = client.Request(Build(new CoapBlock(number, more, CoapBlock.ExponentOf(BlockSize)), null, number == 0));
                if (response is null || (more && response.Code != CoapMessage.MakeCode(2, 31)))
                {
                    break;
                }
            }
        }
        else
        {
            response = client.Request(Build(null, null, first: true));
        }

        if (response is null)
        {
            await stderr.WriteLineAsync("mp-lb: no answer");
            return 1;
        }

        // Large answers come in Block2 blocks: fetch the rest.
        using var payload = new MemoryStream();
        payload.Write(response.Payload.Span);
        var final = response;
        while (final.Find(CoapOptionNumbers.Block2) is { } option && CoapBlock.TryDecode(option.UIntValue, out var block) && block.More)
        {
            var next = client.Request(Build(null, new CoapBlock(block.Number + 1, false, block.SizeExponent), first: false));
            if (next is null)
            {
                await stderr.WriteLineAsync("mp-lb: the answer stopped in the middle of a blockwise transfer");
                return 1;
            }

            payload.Write(next.Payload.Span);
            final = next;
        }

        await stderr.WriteLineAsync(CoapMessage.FormatCode(response.Code));
        var format = response.Find(CoapOptionNumbers.ContentFormat)?.UIntValue;
        var bytes = payload.ToArray();
        if (bytes.Length > 0)
        {
            if (format is CoapContentFormats.Cbor)
            {
                await stdout.WriteAsync(Cli.Pretty(converter.CborToJson(bytes, out _)));
            }
            else
            {
                await stdout.WriteAsync(bytes);
            }

            await stdout.WriteAsync("\n"u8.ToArray());
        }

        return response.Code >> 5 == 2 ? 0 : 1;
    }

    private static bool IsValueOption(string option) => option is "--token" or "--data" or "--ca";

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
