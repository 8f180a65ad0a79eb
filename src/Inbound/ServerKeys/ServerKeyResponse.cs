using System.Text.Json;
using MessengerProxy.Policy.Federation;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace MessengerProxy.Inbound.ServerKeys;

/// <summary>One verify key of a server: the public key and the last moment it may sign a request.</summary>
internal sealed record ServerKey(Ed25519.PublicPoint PublicKey, DateTimeOffset ValidUntil);

/// <summary>
/// Reads a server's key response (<c>/_matrix/key/v2/server</c>, or one entry of a notary's
/// <c>/_matrix/key/v2/query</c> answer) and checks that the server signed it itself: the canonical JSON of the
/// object without <c>signatures</c> and <c>unsigned</c>, signed by the server with a key of its own
/// <c>verify_keys</c>. A notary's added signature proves nothing about the origin, so it is not what counts.
/// </summary>
internal static class ServerKeyResponse
{
    // The spec: keys are used "until the lesser of valid_until_ts and 7 days into the future"; the same cap bounds
    // how long a fetched answer is trusted without asking again.
    internal static readonly TimeSpan MaxValidity = TimeSpan.FromDays(7);

    /// <returns>The keys by key ID, or null with the reason the response is refused.</returns>
    public static Dictionary<string, ServerKey>? Read(JsonElement response, string serverName, DateTimeOffset now, out string problem)
    {
        problem = string.Empty;
        if (response.ValueKind != JsonValueKind.Object
            || !response.TryGetProperty("server_name", out var name) || name.ValueKind != JsonValueKind.String
            || !response.TryGetProperty("verify_keys", out var verifyKeys) || verifyKeys.ValueKind != JsonValueKind.Object
            || !response.TryGetProperty("valid_until_ts", out var validUntilTs) || !validUntilTs.TryGetInt64(out var validUntilMs))
        {
            problem = "malformed key response";
            return null;
        }

        if (!name.ValueEquals(serverName))
        {
            problem = "key response names another server";
            return null;
        }

        var keys = new Dictionary<string, ServerKey>(StringComparer.Ordinal);
        var validUntil = Min(FromUnixMs(validUntilMs), now + MaxValidity);
        foreach (var entry in verifyKeys.EnumerateObject())
        {
            if (TryReadKey(entry, out var publicKey))
            {
                keys[entry.Name] = new ServerKey(publicKey, validUntil);
            }
        }

        if (!SignedByItself(response, serverName, keys))
        {
            problem = "key response is not validly signed by the server itself";
            return null;
        }

        // Old keys no longer sign anything new: a request is accepted with one only before its expired_ts.
        if (response.TryGetProperty("old_verify_keys", out var oldKeys) && oldKeys.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in oldKeys.EnumerateObject())
            {
                if (!keys.ContainsKey(entry.Name) && TryReadKey(entry, out var publicKey)
                    && entry.Value.TryGetProperty("expired_ts", out var expired) && expired.TryGetInt64(out var expiredMs))
                {
                    keys[entry.Name] = new ServerKey(publicKey, Min(FromUnixMs(expiredMs), validUntil));
                }
            }
        }

        return keys;
    }

    private static bool SignedByItself(JsonElement response, string serverName, Dictionary<string, ServerKey> verifyKeys)
    {
        if (!response.TryGetProperty("signatures", out var signatures) || signatures.ValueKind != JsonValueKind.Object
            || !signatures.TryGetProperty(serverName, out var own) || own.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        using var canonical = new PooledBufferWriter(1024);
        CanonicalJson.Write(canonical, response, "signatures", "unsigned");
        var verified = false;
        foreach (var signature in own.EnumerateObject())
        {
            if (!verifyKeys.TryGetValue(signature.Name, out var key))
            {
                continue;
            }

            // Every signature by one of its current keys must hold, not just one of them.
            if (signature.Value.ValueKind != JsonValueKind.String
                || !Ed25519Signatures.TryDecodeBase64(signature.Value.GetString(), 64, out var bytes)
                || !Ed25519Signatures.Verify(key.PublicKey, bytes, canonical.WrittenSegment))
            {
                return false;
            }

            verified = true;
        }

        return verified;
    }

    private static bool TryReadKey(JsonProperty entry, out Ed25519.PublicPoint publicKey)
    {
        publicKey = null!;
        return entry.Name.StartsWith(Ed25519Signatures.Algorithm + ":", StringComparison.Ordinal)
            && entry.Value.ValueKind == JsonValueKind.Object
            && entry.Value.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String
            && Ed25519Signatures.ReadPublicKey(key.GetString()) is { } point
            && (publicKey = point) is not null;
    }

    private static DateTimeOffset FromUnixMs(long ms) =>
        ms <= DateTimeOffset.MinValue.ToUnixTimeMilliseconds() ? DateTimeOffset.MinValue
        : ms >= DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() ? DateTimeOffset.MaxValue
        : DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;
}
