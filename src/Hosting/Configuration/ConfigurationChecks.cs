using System.Net;

namespace MessengerProxy.Hosting.Configuration;

/// <summary>Checks shared by the options validators of the proxy and the registration service.</summary>
internal static class ConfigurationChecks
{
    public static bool TryParseHttpBaseUrl(string value, out Uri uri, out string why, bool allowPath = false)
    {
        why = string.Empty;
        if (!Uri.TryCreate(value, UriKind.Absolute, out uri!) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            why = "must be an absolute http:// or https:// URL";
            return false;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo) || !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment))
        {
            why = "must not contain credentials, a query or a fragment";
            return false;
        }

        if (!allowPath && uri.AbsolutePath != "/")
        {
            why = "must not contain a path (Matrix paths start at the root)";
            return false;
        }

        return true;
    }

    public static bool TryParseNetwork(string value, out IPNetwork network)
    {
        if (IPNetwork.TryParse(value, out network))
        {
            return true;
        }

        if (IPAddress.TryParse(value, out var single))
        {
            network = new IPNetwork(single, single.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 32 : 128);
            return true;
        }

        return false;
    }
}
