using System.Globalization;
using System.Text;
using Org.BouncyCastle.Math.EC.Rfc8032;
using Org.BouncyCastle.Security;

namespace MessengerProxy.Tests.TestKit;

/// <summary>
/// A Matrix server's ed25519 signing key, signing as Synapse does: X-Matrix request signatures and self-signed
/// key responses. The canonical JSON is written out by hand here (members in order, no whitespace), so the
/// proxy's canonical JSON writer is checked against an independent encoding, not against itself.
/// </summary>
public sealed class TestServerKey
{
    private readonly byte[] _secret = new byte[Ed25519.SecretKeySize];

    public TestServerKey(string serverName, string keyId = "ed25519:a_test")
    {
        ServerName = serverName;
        KeyId = keyId;
        Ed25519.GeneratePrivateKey(new SecureRandom(), _secret);
        PublicKey = new byte[Ed25519.PublicKeySize];
        Ed25519.GeneratePublicKey(_secret, 0, PublicKey, 0);
    }

    public string ServerName { get; }

    public string KeyId { get; }

    public byte[] PublicKey { get; }

    public string PublicKeyBase64 => Unpadded(PublicKey);

    public static string Unpadded(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=');

    public string Sign(string canonicalJson)
    {
        var message = Encoding.UTF8.GetBytes(canonicalJson);
        var signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_secret, 0, message, 0, message.Length, signature, 0);
        return Unpadded(signature);
    }

    /// <summary>The <c>Authorization</c> header value for a request; <paramref name="canonicalContent"/> is the body in canonical JSON.</summary>
    public string XMatrix(string method, string uri, string destination, string? canonicalContent = null, bool sendDestination = true, string? keyId = null)
    {
        var content = canonicalContent is null ? "" : $"\"content\":{canonicalContent},";
        var signed = $"{{{content}\"destination\":{Json(destination)},\"method\":{Json(method)},\"origin\":{Json(ServerName)},\"uri\":{Json(uri)}}}";
        var header = $"X-Matrix origin=\"{ServerName}\",key=\"{keyId ?? KeyId}\",sig=\"{Sign(signed)}\"";
        return sendDestination ? header + $",destination=\"{destination}\"" : header;
    }

    /// <summary>
    /// A <c>/_matrix/key/v2/server</c> response with this key, signed by <paramref name="signer"/> (this key
    /// unless a test forges it), optionally with an old key expired at <paramref name="oldKeyExpired"/>.
    /// </summary>
    public string KeyResponse(DateTimeOffset validUntil, TestServerKey? signer = null, TestServerKey? oldKey = null, DateTimeOffset? oldKeyExpired = null)
    {
        var old = oldKey is null
            ? "{}"
            : $"{{{Json(oldKey.KeyId)}:{{\"expired_ts\":{Ms(oldKeyExpired!.Value)},\"key\":{Json(oldKey.PublicKeyBase64)}}}}}";
        var body = $"\"old_verify_keys\":{old},\"server_name\":{Json(ServerName)},\"valid_until_ts\":{Ms(validUntil)},\"verify_keys\":{{{Json(KeyId)}:{{\"key\":{Json(PublicKeyBase64)}}}}}";
        var signature = (signer ?? this).Sign($"{{{body}}}");
        return $"{{{body},\"signatures\":{{{Json(ServerName)}:{{{Json(KeyId)}:{Json(signature)}}}}}}}";
    }

    private static string Ms(DateTimeOffset at) => at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);

    // The test's names and targets are ASCII without quotes or backslashes, so quoting is all canonical JSON asks.
    private static string Json(string value) => "\"" + value + "\"";
}
