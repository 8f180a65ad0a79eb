using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace MessengerProxy.Outbound.Destinations;

/// <summary>
/// Which IP addresses the proxy may connect to. Addresses that lead into the operator's own network
/// (loopback, private, link-local, carrier-grade NAT, unique-local, unspecified, multicast) are refused
/// unless a configured network contains them, so a federation peer cannot point its DNS at an internal
/// service and have the homeserver's proxy reach it. IPv6 addresses that reach IPv4 through translation
/// are judged by the IPv4 address they lead to.
/// </summary>
internal sealed class AddressRules
{
    private static readonly IPNetwork[] s_internal =
    [
        IPNetwork.Parse("0.0.0.0/8"),
        IPNetwork.Parse("10.0.0.0/8"),
        IPNetwork.Parse("100.64.0.0/10"),
        IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"),
        IPNetwork.Parse("172.16.0.0/12"),
        IPNetwork.Parse("192.0.0.0/24"),
        IPNetwork.Parse("192.0.2.0/24"),
        IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"),
        IPNetwork.Parse("198.51.100.0/24"),
        IPNetwork.Parse("203.0.113.0/24"),
        IPNetwork.Parse("224.0.0.0/4"),
        IPNetwork.Parse("240.0.0.0/4"),
        IPNetwork.Parse("::/128"),
        IPNetwork.Parse("::1/128"),
        IPNetwork.Parse("100::/64"),
        IPNetwork.Parse("2001:2::/48"),
        IPNetwork.Parse("2001:db8::/32"),
        IPNetwork.Parse("fc00::/7"),
        IPNetwork.Parse("fe80::/10"),
        IPNetwork.Parse("fec0::/10"),
        IPNetwork.Parse("ff00::/8"),
    ];

    // IPv6 ranges whose packets end up at an IPv4 address (RFC 6890 registry): the byte offset of the embedded
    // IPv4 address, or -1 where it has no fixed place and the whole range counts as internal. Checked before
    // the IPv6 rules, so ::ffff:10.0.0.1 is as internal as 10.0.0.1 and 64:ff9b::8.8.8.8 as public as 8.8.8.8.
    private static readonly (IPNetwork Prefix, int Offset)[] s_translated =
    [
        (IPNetwork.Parse("::ffff:0:0/96"), 12),     // IPv4-mapped (RFC 4291)
        (IPNetwork.Parse("::ffff:0:0:0/96"), 12),   // IPv4-translated, SIIT (RFC 7915 / 2765)
        (IPNetwork.Parse("64:ff9b::/96"), 12),      // NAT64 well-known prefix (RFC 6052)
        (IPNetwork.Parse("2002::/16"), 2),          // 6to4: the relay's IPv4 address follows the prefix (RFC 3056)
        (IPNetwork.Parse("::/96"), 12),             // IPv4-compatible, deprecated (RFC 4291 §2.5.5.1); :: and ::1 excepted
        // Local-use NAT64 (RFC 8215): the IPv4 address sits where the operator's prefix length (/48 to /96)
        // puts it, which the proxy cannot know. It only exists inside an operator's network anyway.
        (IPNetwork.Parse("64:ff9b:1::/48"), -1),
        // Teredo (RFC 4380): server and (obfuscated) client IPv4 addresses; a relay picks the path. No
        // federation peer is reachable only through Teredo.
        (IPNetwork.Parse("2001::/32"), -1),
    ];

    private readonly IPNetwork[] _allowed;

    public AddressRules(IEnumerable<IPNetwork> allowed) => _allowed = allowed.ToArray();

    public bool IsAllowed(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return IsAllowedAsIs(address);
        }

        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        if (!IsUnspecifiedOrLoopback(bytes))
        {
            foreach (var (prefix, offset) in s_translated)
            {
                if (StartsWith(bytes, prefix))
                {
                    return IsTranslatedAllowed(bytes, prefix, offset);
                }
            }
        }

        return IsAllowedAsIs(address);
    }

    private bool IsTranslatedAllowed(ReadOnlySpan<byte> address, IPNetwork prefix, int offset)
    {
        // Only an entry that names translated addresses allows them as such (64:ff9b::a00:0/104, 64:ff9b:1::/48);
        // a broad one (::/0, 2000::/3) must not open the IPv4 networks behind a translator.
        foreach (var network in _allowed)
        {
            if (network.PrefixLength >= prefix.PrefixLength && network.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6 && StartsWith(address, network))
            {
                return true;
            }
        }

        return offset >= 0 && IsAllowedAsIs(new IPAddress(address.Slice(offset, 4)));
    }

    // IPNetwork.Contains turns IPv4-mapped addresses into IPv4 ones first, so it never finds them in an IPv6
    // network; the translation table is matched on the raw 128 bits instead.
    private static bool StartsWith(ReadOnlySpan<byte> address, IPNetwork network)
    {
        Span<byte> prefix = stackalloc byte[16];
        network.BaseAddress.TryWriteBytes(prefix, out _);
        var bits = network.PrefixLength;
        var whole = bits / 8;
        if (!address[..whole].SequenceEqual(prefix[..whole]))
        {
            return false;
        }

        var rest = bits % 8;
        return rest == 0 || ((address[whole] ^ prefix[whole]) & (0xFF << (8 - rest)) & 0xFF) == 0;
    }

    private bool IsAllowedAsIs(IPAddress address)
    {
        foreach (var network in _allowed)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return true;
            }
        }

        foreach (var network in s_internal)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return false;
            }
        }

        return address.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6;
    }

    private static bool IsUnspecifiedOrLoopback(ReadOnlySpan<byte> address) =>
        BinaryPrimitives.ReadUInt64BigEndian(address) == 0 && BinaryPrimitives.ReadUInt64BigEndian(address[8..]) <= 1;
}
