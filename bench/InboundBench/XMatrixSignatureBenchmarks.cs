using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Inbound.Policies;
using MessengerProxy.Inbound.ServerKeys;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Math.EC.Rfc8032;
using Org.BouncyCastle.Security;

namespace MessengerProxy.InboundBench;

/// <summary>
/// What verifying an X-Matrix signature costs per request, measured on the stage itself with the origin's key
/// already held (one notary fetch per origin and validity period, off this path): a GET without a body, and
/// <c>/send</c> transactions of 1 and 50 PDUs (the body parsed, written in canonical JSON, then ed25519-verified).
/// The ed25519 verification alone is the floor.
/// </summary>
[MemoryDiagnoser]
public class XMatrixSignatureBenchmarks
{
    private const string Origin = "origin.example.org";
    private const string Own = "matrix.example.org";
    private const string KeyId = "ed25519:bench";
    private const string EventTarget = "/_matrix/federation/v1/event/%24abcdefghijklmnopqrstuvwxyz0123456789";
    private const string SendTarget = "/_matrix/federation/v1/send/1733011200000";

    private readonly byte[] _secret = new byte[Ed25519.SecretKeySize];
    private readonly byte[] _public = new byte[Ed25519.PublicKeySize];
    private XMatrixSignaturePolicy _policy = null!;
    private EndpointDescriptor _event = null!;
    private EndpointDescriptor _send = null!;
    private byte[] _onePdu = [];
    private byte[] _fiftyPdus = [];
    private string _eventAuthorization = "";
    private string _onePduAuthorization = "";
    private string _fiftyPdusAuthorization = "";
    private byte[] _message = [];
    private byte[] _signature = [];
    private Ed25519.PublicPoint _point = null!;

    [GlobalSetup]
    public void Setup()
    {
        Ed25519.GeneratePrivateKey(new SecureRandom(), _secret);
        Ed25519.GeneratePublicKey(_secret, 0, _public, 0);
        _point = Ed25519.ValidatePublicKeyFullExport(_public, 0)!;
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Federation:Enforce"] = "false",
            ["Federation:ServerName"] = Own,
            ["Federation:CacheFile"] = Path.Combine(Path.GetTempPath(), "mp-bench-xmatrix-" + Guid.NewGuid().ToString("N"), "list.json"),
        }).Build();
        var services = new ServiceCollection().AddLogging().AddMetrics();
        services.AddFederationList(configuration);
        services.AddSingleton(Options.Create(new InboundOptions { HomeserverUrl = "http://notary.invalid" }));
        services.AddSingleton<InboundMetrics>();
        services.AddSingleton<ServerKeyStore>();
        services.AddSingleton<XMatrixSignaturePolicy>();
        services.AddHttpClient(ServerKeyStore.HttpClientName).ConfigurePrimaryHttpMessageHandler(() => new Notary(KeyResponse()));
        var provider = services.BuildServiceProvider();
        _policy = provider.GetRequiredService<XMatrixSignaturePolicy>();

        var table = EndpointTable.LoadMatrixV111().Endpoints;
        _event = table.Single(e => e.ToString() == "GET /_matrix/federation/v1/event/{eventId}");
        _send = table.Single(e => e.ToString() == "PUT /_matrix/federation/v1/send/{txnId}");
        _onePdu = Encoding.UTF8.GetBytes(Transaction(1));
        _fiftyPdus = Encoding.UTF8.GetBytes(Transaction(50));
        _eventAuthorization = Authorization("GET", EventTarget, null);
        _onePduAuthorization = Authorization("PUT", SendTarget, _onePdu);
        _fiftyPdusAuthorization = Authorization("PUT", SendTarget, _fiftyPdus);
        _message = Encoding.UTF8.GetBytes(new string('x', 300));
        _signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_secret, 0, _message, 0, _message.Length, _signature, 0);

        // The first request fetches the key; every measured one finds it held.
        Run("GET", EventTarget, _event, null, _eventAuthorization);

        Console.WriteLine($"// /send bodies: 1 PDU {_onePdu.Length} bytes, 50 PDUs {_fiftyPdus.Length} bytes");
    }

    [Benchmark(Description = "GET /event, no body")]
    public bool Get() => Run("GET", EventTarget, _event, null, _eventAuthorization);

    [Benchmark(Description = "PUT /send, 1 PDU")]
    public bool SendOne() => Run("PUT", SendTarget, _send, _onePdu, _onePduAuthorization);

    [Benchmark(Description = "PUT /send, 50 PDUs")]
    public bool SendFifty() => Run("PUT", SendTarget, _send, _fiftyPdus, _fiftyPdusAuthorization);

    [Benchmark(Description = "ed25519 verify alone (key decoded once), 300 bytes")]
    public bool VerifyOnly() => Ed25519.Verify(_signature, 0, _point, _message, 0, _message.Length);

    private bool Run(string method, string raw, EndpointDescriptor endpoint, byte[]? json, string authorization)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = method;
        context.Request.Headers.Authorization = authorization;
        BufferedRequestBody? body = null;
        if (json is not null)
        {
            var buffer = ArrayPool<byte>.Shared.Rent(json.Length);
            json.CopyTo(buffer, 0);
            body = new BufferedRequestBody(buffer, json.Length);
        }

        using (body)
        {
            _ = RequestTarget.TryParse(raw, out var target);
            var request = new InboundRequestFeature(target, endpoint, isPreflight: false) { Body = body };
            return _policy.EvaluateAsync(context, request).AsTask().GetAwaiter().GetResult() is { } error
                ? throw new InvalidOperationException(error.Message)
                : true;
        }
    }

    private string Authorization(string method, string uri, byte[]? body)
    {
        // Signed over the canonical form the sender computes; the bodies below are canonical already.
        var content = body is null ? "" : "\"content\":" + Encoding.UTF8.GetString(body) + ",";
        var signed = $"{{{content}\"destination\":\"{Own}\",\"method\":\"{method}\",\"origin\":\"{Origin}\",\"uri\":\"{uri}\"}}";
        return $"X-Matrix origin=\"{Origin}\",destination=\"{Own}\",key=\"{KeyId}\",sig=\"{Sign(signed)}\"";
    }

    private string KeyResponse()
    {
        var valid = DateTimeOffset.UtcNow.AddDays(1).ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture);
        var body = $"\"old_verify_keys\":{{}},\"server_name\":\"{Origin}\",\"valid_until_ts\":{valid},\"verify_keys\":{{\"{KeyId}\":{{\"key\":\"{Convert.ToBase64String(_public).TrimEnd('=')}\"}}}}";
        return $"{{\"server_keys\":[{{{body},\"signatures\":{{\"{Origin}\":{{\"{KeyId}\":\"{Sign("{" + body + "}")}\"}}}}}}]}}";
    }

    private string Sign(string canonical)
    {
        var message = Encoding.UTF8.GetBytes(canonical);
        var signature = new byte[Ed25519.SignatureSize];
        Ed25519.Sign(_secret, 0, message, 0, message.Length, signature, 0);
        return Convert.ToBase64String(signature).TrimEnd('=');
    }

    /// <summary>A typical federation transaction: room messages as Synapse sends them (canonical JSON, ~1.1 KB per PDU).</summary>
    private static string Transaction(int pdus)
    {
        var events = Enumerable.Range(0, pdus).Select(i =>
            "{\"auth_events\":[\"$aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"$bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"$ccccccccccccccccccccccccccccccccccccccccccc\"],"
            + "\"content\":{\"algorithm\":\"m.megolm.v1.aes-sha2\",\"ciphertext\":\"" + new string('A', 600) + "\",\"device_id\":\"ABCDEFGHIJ\",\"sender_key\":\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\",\"session_id\":\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"},"
            + $"\"depth\":{100 + i},\"hashes\":{{\"sha256\":\"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG\"}},\"origin\":\"{Origin}\",\"origin_server_ts\":1733011200{i:000},"
            + "\"prev_events\":[\"$ddddddddddddddddddddddddddddddddddddddddddd\"],\"room_id\":\"!room:origin.example.org\",\"sender\":\"@alice:origin.example.org\","
            + $"\"signatures\":{{\"{Origin}\":{{\"{KeyId}\":\"" + new string('s', 86) + "\"}},\"type\":\"m.room.encrypted\"}");
        return $"{{\"edus\":[],\"origin\":\"{Origin}\",\"origin_server_ts\":1733011200000,\"pdus\":[{string.Join(",", events)}]}}";
    }

    private sealed class Notary(string answer) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(answer, Encoding.UTF8, "application/json") });
    }
}
