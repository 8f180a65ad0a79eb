using System.Buffers.Binary;

namespace MessengerProxy.LowBandwidth.Coap;

/// <summary>RFC 7252 §3 message types.</summary>
internal enum CoapType : byte
{
    Confirmable = 0,
    NonConfirmable = 1,
    Acknowledgement = 2,
    Reset = 3,
}

/// <summary>Why a datagram is not a CoAP message (RFC 7252 §3 and §4.2: message format errors).</summary>
public enum CoapFormatError
{
    None,
    TooShort,
    UnsupportedVersion,
    TokenTooLong,
    TruncatedToken,
    ReservedOptionNibble,
    TruncatedOption,
    PayloadMarkerWithoutPayload,
    EmptyMessageNotEmpty,
}

/// <summary>One option: number and raw value.</summary>
internal readonly record struct CoapOption(ushort Number, ReadOnlyMemory<byte> Value)
{
    public uint UIntValue => ReadUInt(Value.Span);

    public static uint ReadUInt(ReadOnlySpan<byte> value)
    {
        uint result = 0;
        foreach (var b in value[..Math.Min(value.Length, 4)])
        {
            result = (result << 8) | b;
        }

        return result;
    }

    public static CoapOption FromUInt(ushort number, uint value)
    {
        // RFC 7252 §3.2: uint values use the fewest bytes, zero is the empty value.
        var length = value == 0 ? 0 : value < 0x100 ? 1 : value < 0x10000 ? 2 : value < 0x1000000 ? 3 : 4;
        var bytes = new byte[length];
        for (var i = length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)value;
            value >>= 8;
        }

        return new CoapOption(number, bytes);
    }

    public static CoapOption FromString(ushort number, string value) => new(number, System.Text.Encoding.UTF8.GetBytes(value));
}

/// <summary>Option numbers used here (RFC 7252 §12.2, RFC 7641, RFC 7959, MSC3079).</summary>
internal static class CoapOptionNumbers
{
    public const ushort IfMatch = 1;
    public const ushort UriHost = 3;
    public const ushort ETag = 4;
    public const ushort IfNoneMatch = 5;
    public const ushort Observe = 6;
    public const ushort UriPort = 7;
    public const ushort LocationPath = 8;
    public const ushort UriPath = 11;
    public const ushort ContentFormat = 12;
    public const ushort MaxAge = 14;
    public const ushort UriQuery = 15;
    public const ushort Accept = 17;
    public const ushort LocationQuery = 20;
    public const ushort Block2 = 23;
    public const ushort Block1 = 27;
    public const ushort Size2 = 28;
    public const ushort ProxyUri = 35;
    public const ushort ProxyScheme = 39;
    public const ushort Size1 = 60;

    /// <summary>MSC3079: the access token, with or without <c>Bearer </c>, sticky for the association.</summary>
    public const ushort AccessToken = 256;

    /// <summary>MSC3079: CBOR key table version the client speaks (uint), sticky for the association.</summary>
    public const ushort CborVersion = 257;

    /// <summary>RFC 7967.</summary>
    public const ushort NoResponse = 258;

    /// <summary>RFC 7252 §5.4.1: odd option numbers are critical.</summary>
    public static bool IsCritical(ushort number) => (number & 1) == 1;
}

/// <summary>Content-Format numbers (RFC 7252 §12.3 and the CoRE registry).</summary>
internal static class CoapContentFormats
{
    public const ushort TextPlain = 0;
    public const ushort OctetStream = 42;
    public const ushort Json = 50;
    public const ushort Cbor = 60;
}

/// <summary>
/// A CoAP message (RFC 7252 §3): header, token, options in ascending order, payload. Parsing is strict and
/// never throws: a malformed datagram yields a <see cref="CoapFormatError"/>.
/// </summary>
internal sealed class CoapMessage
{
    public CoapType Type { get; set; }

    /// <summary>Class in the top 3 bits, detail in the low 5 (0x45 = 2.05).</summary>
    public byte Code { get; set; }

    public ushort MessageId { get; set; }

    public ReadOnlyMemory<byte> Token { get; set; }

    /// <summary>Options sorted by number (stable for repeated options).</summary>
    public List<CoapOption> Options { get; } = [];

    public ReadOnlyMemory<byte> Payload { get; set; }

    public bool IsEmpty => Code == 0;

    public bool IsRequest => Code is >= 1 and <= 31;

    public static byte MakeCode(int @class, int detail) => (byte)((@class << 5) | detail);

    public static string FormatCode(byte code) => $"{code >> 5}.{code & 0x1F:D2}";

    public IEnumerable<CoapOption> All(ushort number) => Options.Where(o => o.Number == number);

    public CoapOption? Find(ushort number)
    {
        foreach (var option in Options)
        {
            if (option.Number == number)
            {
                return option;
            }
        }

        return null;
    }

    public void Add(CoapOption option)
    {
        // Keep ascending order; equal numbers keep insertion order (repeatable options like Uri-Path).
        var at = Options.Count;
        while (at > 0 && Options[at - 1].Number > option.Number)
        {
            at--;
        }

        Options.Insert(at, option);
    }

    public void Set(CoapOption option)
    {
        Options.RemoveAll(o => o.Number == option.Number);
        Add(option);
    }

    public static CoapFormatError TryParse(ReadOnlyMemory<byte> datagram, out CoapMessage message)
    {
        message = new CoapMessage();
        var data = datagram.Span;
        if (data.Length < 4)
        {
            return CoapFormatError.TooShort;
        }

        if (data[0] >> 6 != 1)
        {
            return CoapFormatError.UnsupportedVersion;
        }

        message.Type = (CoapType)((data[0] >> 4) & 0x3);
        var tokenLength = data[0] & 0xF;
        message.Code = data[1];
        message.MessageId = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (tokenLength > 8)
        {
            return CoapFormatError.TokenTooLong;
        }

        if (message.Code == 0 && (tokenLength != 0 || data.Length != 4))
        {
            // RFC 7252 §4.1: an Empty message has nothing after the header.
            return CoapFormatError.EmptyMessageNotEmpty;
        }

        if (data.Length < 4 + tokenLength)
        {
            return CoapFormatError.TruncatedToken;
        }

        message.Token = datagram.Slice(4, tokenLength);
        var position = 4 + tokenLength;
        var number = 0;
        while (position < data.Length)
        {
            var first = data[position];
            if (first == 0xFF)
            {
                position++;
                if (position == data.Length)
                {
                    return CoapFormatError.PayloadMarkerWithoutPayload;
                }

                message.Payload = datagram[position..];
                return CoapFormatError.None;
            }

            position++;
            if (!TryReadExtended(data, ref position, first >> 4, out var delta) || !TryReadExtended(data, ref position, first & 0xF, out var length))
            {
                return (first >> 4) == 15 || (first & 0xF) == 15 ? CoapFormatError.ReservedOptionNibble : CoapFormatError.TruncatedOption;
            }

            number += delta;
            if (number > ushort.MaxValue || data.Length - position < length)
            {
                return CoapFormatError.TruncatedOption;
            }

            message.Options.Add(new CoapOption((ushort)number, datagram.Slice(position, length)));
            position += length;
        }

        return CoapFormatError.None;
    }

    private static bool TryReadExtended(ReadOnlySpan<byte> data, ref int position, int nibble, out int value)
    {
        switch (nibble)
        {
            case < 13:
                value = nibble;
                return true;
            case 13 when position < data.Length:
                value = data[position++] + 13;
                return true;
            case 14 when position + 1 < data.Length:
                value = BinaryPrimitives.ReadUInt16BigEndian(data[position..]) + 269;
                position += 2;
                return true;
            default:
                value = 0;
                return false;
        }
    }

    public byte[] Serialize()
    {
        var size = 4 + Token.Length + (Payload.IsEmpty ? 0 : 1 + Payload.Length);
        var previous = 0;
        foreach (var option in Options)
        {
            size += 1 + ExtendedSize(option.Number - previous) + ExtendedSize(option.Value.Length) + option.Value.Length;
            previous = option.Number;
        }

        var buffer = new byte[size];
        buffer[0] = (byte)(0x40 | ((int)Type << 4) | Token.Length);
        buffer[1] = Code;
        BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(2), MessageId);
        Token.Span.CopyTo(buffer.AsSpan(4));
        var position = 4 + Token.Length;
        previous = 0;
        foreach (var option in Options)
        {
            var delta = option.Number - previous;
            var length = option.Value.Length;
            var header = position++;
            buffer[header] = (byte)((Nibble(delta) << 4) | Nibble(length));
            WriteExtended(buffer, ref position, delta);
            WriteExtended(buffer, ref position, length);
            option.Value.Span.CopyTo(buffer.AsSpan(position));
            position += length;
            previous = option.Number;
        }

        if (!Payload.IsEmpty)
        {
            buffer[position++] = 0xFF;
            Payload.Span.CopyTo(buffer.AsSpan(position));
        }

        return buffer;
    }

    private static int ExtendedSize(int value) => value < 13 ? 0 : value < 269 ? 1 : 2;

    private static int Nibble(int value) => value < 13 ? value : value < 269 ? 13 : 14;

    private static void WriteExtended(byte[] buffer, ref int position, int value)
    {
        if (value >= 269)
        {
            BinaryPrimitives.WriteUInt16BigEndian(buffer.AsSpan(position), (ushort)(value - 269));
            position += 2;
        }
        else if (value >= 13)
        {
            buffer[position++] = (byte)(value - 13);
        }
    }

    public override string ToString() => $"{Type} {FormatCode(Code)} mid={MessageId} token={Convert.ToHexString(Token.Span)} options={Options.Count} payload={Payload.Length}";
}
