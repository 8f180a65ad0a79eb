using System.Net;

namespace MessengerProxy.Hosting.Configuration;

/// <summary>The accepted spellings of a listener's bind address.</summary>
internal static class ListenerAddresses
{
    /// <summary><c>*</c> (or empty) is the dual-stack any-address, <c>localhost</c> the IPv4 loopback, otherwise an IP literal; null when invalid.</summary>
    public static IPAddress? Parse(string? address) => address switch
    {
        "*" or "" or null => IPAddress.IPv6Any,
        "localhost" => IPAddress.Loopback,
        _ => IPAddress.TryParse(address, out var ip) ? ip : null,
    };
}
