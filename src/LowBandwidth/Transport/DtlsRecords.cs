using System.Buffers.Binary;

namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// Just enough of the DTLS 1.2 record header (RFC 6347 §4.1, RFC 9146 §4) to route datagrams before
/// BouncyCastle sees them: type(1) version(2) epoch(2) sequence(6) [cid] length(2).
/// </summary>
internal static class DtlsRecords
{
    public const int HeaderLength = 13;
    public const byte ChangeCipherSpec = 20;
    public const byte Alert = 21;
    public const byte Handshake = 22;
    public const byte ApplicationData = 23;
    public const byte Heartbeat = 24;
    public const byte Tls12Cid = 25;
    public const byte ClientHelloType = 1;
    public const byte HelloVerifyRequestType = 3;

    /// <summary>Length of the connection IDs this server hands out; fixed so a CID can be read without state.</summary>
    public const int ConnectionIdLength = 6;

    private const int CidOffset = 11;

    /// <summary>A plaintext handshake record in epoch 0 carrying (the start of) a ClientHello.</summary>
    public static bool IsClientHello(ReadOnlySpan<byte> datagram) =>
        datagram.Length > HeaderLength
        && datagram[0] == Handshake
        && datagram[1] == 0xFE
        && BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]) == 0
        && datagram[HeaderLength] == ClientHelloType;

    /// <summary>Reads our connection ID from a <c>tls12_cid</c> record as a number (6 bytes fit a ulong).</summary>
    public static bool TryReadConnectionId(ReadOnlySpan<byte> datagram, out ulong connectionId)
    {
        connectionId = 0;
        if (datagram.Length < HeaderLength + ConnectionIdLength || datagram[0] != Tls12Cid || datagram[1] != 0xFE)
        {
            return false;
        }

        connectionId = ConnectionIdKey(datagram.Slice(CidOffset, ConnectionIdLength));
        return true;
    }

    public static ulong ConnectionIdKey(ReadOnlySpan<byte> connectionId)
    {
        ulong key = 0;
        foreach (var b in connectionId)
        {
            key = (key << 8) | b;
        }

        return key;
    }

    /// <summary>
    /// A record that only makes sense inside an association (protected application data, a CID record,
    /// a handshake or change_cipher_spec from a later epoch): what a client sends after the server lost its
    /// state. Alerts are left out so two peers cannot bounce alerts at each other.
    /// </summary>
    public static bool IsRecordOfLostAssociation(ReadOnlySpan<byte> datagram)
    {
        if (datagram.Length < HeaderLength || datagram[1] != 0xFE || datagram[2] is not (0xFD or 0xFF))
        {
            return false;
        }

        var epoch = BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]);
        return datagram[0] switch
        {
            ApplicationData or Tls12Cid or Heartbeat => true,
            Handshake or ChangeCipherSpec => epoch > 0,
            _ => false,
        };
    }

    /// <summary>
    /// A plaintext fatal alert in epoch 0 (level fatal, <paramref name="description"/>). Clients whose record
    /// layer accepts epoch-0 alerts after the handshake (pion, which lb's client uses) drop the connection at
    /// once instead of waiting out their retransmission timeouts.
    /// </summary>
    public static byte[] FatalAlert(byte description) =>
        [Alert, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, description];
}
