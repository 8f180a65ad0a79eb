using Org.BouncyCastle.Math.EC.Rfc8032;

namespace MessengerProxy.Inbound.ServerKeys;

/// <summary>
/// ed25519 (RFC 8032) verification as Matrix uses it: keys and signatures in unpadded base64. .NET's own
/// cryptography has no Ed25519, so BouncyCastle's pure-C# implementation does it.
/// </summary>
internal static class Ed25519Signatures
{
    public const string Algorithm = "ed25519";

    /// <summary>
    /// Decodes Matrix base64: the spec says unpadded, and asks receivers to accept padding too; the URL-safe
    /// alphabet is accepted as Synapse accepts it.
    /// </summary>
    public static bool TryDecodeBase64(ReadOnlySpan<char> text, int expectedLength, out byte[] bytes)
    {
        bytes = [];
        text = text.TrimEnd('=');
        if (text.IsEmpty || text.Length > 128)
        {
            return false;
        }

        Span<char> padded = stackalloc char[(text.Length + 3) / 4 * 4];
        for (var i = 0; i < text.Length; i++)
        {
            padded[i] = text[i] switch { '-' => '+', '_' => '/', var c => c };
        }

        padded[text.Length..].Fill('=');
        var decoded = new byte[padded.Length / 4 * 3];
        if (!Convert.TryFromBase64Chars(padded, decoded, out var written) || written != expectedLength)
        {
            return false;
        }

        bytes = decoded.Length == written ? decoded : decoded[..written];
        return true;
    }

    /// <summary>A key decoded and checked once (a point on the curve, not of small order), so that each verification skips that.</summary>
    public static Ed25519.PublicPoint? ReadPublicKey(ReadOnlySpan<char> base64) =>
        TryDecodeBase64(base64, Ed25519.PublicKeySize, out var bytes) ? Ed25519.ValidatePublicKeyFullExport(bytes, 0) : null;

    public static bool Verify(Ed25519.PublicPoint publicKey, byte[] signature, ArraySegment<byte> message) =>
        signature.Length == Ed25519.SignatureSize
        && Ed25519.Verify(signature, 0, publicKey, message.Array!, message.Offset, message.Count);
}
