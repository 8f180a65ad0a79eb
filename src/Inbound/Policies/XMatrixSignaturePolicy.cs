using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Inbound.ServerKeys;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Policies;

/// <summary>
/// Inbound federation: the X-Matrix signature is verified before the homeserver sees the request (spec
/// "Request Authentication"). The signed object is <c>{method, uri, origin, destination[, content]}</c> in
/// canonical JSON: the method and the raw request target as received, the header's origin, the destination
/// (ours: a header naming another server is refused; a header without one was signed with our name), and the
/// body the body stage read, when there is one. The key is the origin's <c>key</c>, from <see cref="ServerKeyStore"/>.
/// Runs after the body stage, on the very bytes that are forwarded.
/// </summary>
internal sealed class XMatrixSignaturePolicy(ServerKeyStore keys, IOptions<FederationOptions> options, InboundMetrics metrics) : IInboundPolicy
{
    private readonly bool _enabled = options.Value.VerifySignatures;
    private readonly string? _ownName = options.Value.ServerName;
    private readonly ServerName? _own = options.Value.OwnServerName;

    public ValueTask<MatrixError?> EvaluateAsync(HttpContext context, InboundRequestFeature request) =>
        !_enabled || request.IsPreflight || !request.Endpoint.Traits.RequiresXMatrix
            ? ValueTask.FromResult<MatrixError?>(null)
            : VerifyAsync(context, request);

    private async ValueTask<MatrixError?> VerifyAsync(HttpContext context, InboundRequestFeature request)
    {
        if (request.ReadXMatrix(context, out var authorization) is { } unauthorized)
        {
            return Refuse("malformed", unauthorized);
        }

        string destination;
        if (_own is null)
        {
            // Fail closed: without our own name no destination can be checked (README: VerifySignatures needs ServerName).
            return Refuse("wrong_destination", "X-Matrix signatures cannot be verified: this proxy has no Federation:ServerName");
        }

        if (authorization.Destination is { } named)
        {
            if (!ServerName.TryParse(named, out var parsed) || parsed != _own)
            {
                return Refuse("wrong_destination", "X-Matrix authorization: the destination is not this server");
            }

            destination = named;
        }
        else
        {
            destination = _ownName!;
        }

        if (!authorization.Key.StartsWith(Ed25519Signatures.Algorithm + ":", StringComparison.Ordinal))
        {
            return Refuse("unknown_key", "X-Matrix authorization: only ed25519 keys are supported");
        }

        if (!Ed25519Signatures.TryDecodeBase64(authorization.Signature, 64, out var signature))
        {
            return Refuse("malformed", "X-Matrix authorization: the signature is not an ed25519 signature in base64");
        }

        var body = request.Body;
        if (body is null && HasBody(context.Request))
        {
            // Only media uploads stream unread, and no server-server endpoint is one.
            return Refuse("malformed", "X-Matrix authorization: a request body that was not read cannot be verified");
        }

        using var signed = new PooledBufferWriter((body?.Length ?? 0) + 512);
        try
        {
            WriteSignedObject(signed, context.Request.Method, request.Target.Raw, authorization.Origin, destination, body is { Length: > 0 } ? body.Json.RootElement : null);
        }
        catch (JsonException)
        {
            metrics.SignatureChecked("malformed");
            return new MatrixError(400, MatrixErrorCode.BadJson, "Request body is not a JSON document that can be signed");
        }

        var key = await keys.GetAsync(authorization.Origin, authorization.Key, context.RequestAborted);
        if (key.Error is { } error)
        {
            return Refuse(key.Reason, error);
        }

        if (!Ed25519Signatures.Verify(key.PublicKey!, signature, signed.WrittenSegment))
        {
            return Refuse("bad_signature", "X-Matrix authorization: the signature does not verify");
        }

        metrics.SignatureChecked("verified");
        return null;
    }

    /// <summary>The canonical JSON a sender signs; its members written in code-point order without a sort.</summary>
    internal static void WriteSignedObject(PooledBufferWriter output, string method, string uri, string origin, string destination, JsonElement? content)
    {
        CanonicalJson.WriteRaw(output, "{"u8);
        if (content is { } json)
        {
            CanonicalJson.WriteRaw(output, "\"content\":"u8);
            CanonicalJson.WriteValue(output, json);
            CanonicalJson.WriteRaw(output, ","u8);
        }

        CanonicalJson.WriteRaw(output, "\"destination\":"u8);
        CanonicalJson.WriteString(output, destination);
        CanonicalJson.WriteRaw(output, ",\"method\":"u8);
        CanonicalJson.WriteString(output, method);
        CanonicalJson.WriteRaw(output, ",\"origin\":"u8);
        CanonicalJson.WriteString(output, origin);
        CanonicalJson.WriteRaw(output, ",\"uri\":"u8);
        CanonicalJson.WriteString(output, uri);
        CanonicalJson.WriteRaw(output, "}"u8);
    }

    private static bool HasBody(HttpRequest request) => request.ContentLength > 0 || request.Headers.ContainsKey(HeaderNames.TransferEncoding);

    private MatrixError Refuse(string reason, string message) => Refuse(reason, new MatrixError(401, MatrixErrorCode.Unauthorized, message));

    private MatrixError Refuse(string reason, MatrixError error)
    {
        metrics.SignatureChecked(reason);
        return error;
    }
}
