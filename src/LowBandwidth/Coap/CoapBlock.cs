namespace MessengerProxy.LowBandwidth.Coap;

/// <summary>A Block1/Block2 option value (RFC 7959 §2.2): block number, more flag, size exponent.</summary>
internal readonly record struct CoapBlock(uint Number, bool More, int SizeExponent)
{
    /// <summary>Block size in bytes: 16 · 2^SZX (SZX 0..6; 7 is reserved for BERT).</summary>
    public int Size => 16 << SizeExponent;

    public long Offset => (long)Number * Size;

    public static bool TryDecode(uint value, out CoapBlock block)
    {
        var szx = (int)(value & 0x7);
        block = new CoapBlock(value >> 4, (value & 0x8) != 0, szx);
        return szx < 7 && block.Number < (1u << 20);
    }

    public uint Encode() => (Number << 4) | (More ? 8u : 0u) | (uint)SizeExponent;

    public CoapOption ToOption(ushort number) => CoapOption.FromUInt(number, Encode());

    /// <summary>The SZX of a block size (16..1024).</summary>
    public static int ExponentOf(int size) => size switch
    {
        16 => 0, 32 => 1, 64 => 2, 128 => 3, 256 => 4, 512 => 5, 1024 => 6,
        _ => throw new ArgumentOutOfRangeException(nameof(size), size, "block size must be a power of two from 16 to 1024"),
    };
}
