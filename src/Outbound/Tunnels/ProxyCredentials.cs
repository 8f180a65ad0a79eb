using System.Security.Cryptography;
using System.Text;
using MessengerProxy.Outbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Tunnels;

/// <summary>The optional Basic credentials every proxy request must carry (RFC 9110 §11.7.1).</summary>
internal sealed class ProxyCredentials
{
    public const string Challenge = "Basic realm=\"messenger-proxy\", charset=\"UTF-8\"";

    private readonly byte[]? _expected;

    public ProxyCredentials(IOptions<OutboundOptions> options)
    {
        var settings = options.Value;
        if (!string.IsNullOrEmpty(settings.ProxyUser))
        {
            _expected = Encoding.UTF8.GetBytes(settings.ProxyUser + ":" + settings.ProxyPassword);
        }
    }

    public bool Required => _expected is not null;

    /// <summary>Whether a <c>Proxy-Authorization</c> value carries the configured credentials (always true when none are configured).</summary>
    public bool Accepts(string? proxyAuthorization)
    {
        if (_expected is null)
        {
            return true;
        }

        if (proxyAuthorization is null || !proxyAuthorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        byte[] presented;
        try
        {
            presented = Convert.FromBase64String(proxyAuthorization[6..].Trim());
        }
        catch (FormatException)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(presented, _expected);
    }
}
