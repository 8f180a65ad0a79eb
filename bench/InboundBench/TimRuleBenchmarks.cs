using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Inbound.Pipeline;
using MessengerProxy.Inbound.Policies.Tim;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace MessengerProxy.InboundBench;

/// <summary>
/// What the TIM content stage costs per request, measured on the stage itself (the pipeline around it is the inbound
/// throughput benchmark's business): a typical createRoom of a TIM client (power levels, initial state, an invitee,
/// 1.6 KB) that needs the room version and <c>m.federate</c> written in; the same body when it needs no rewrite;
/// a message send (the thread check); and a request no rule concerns. Each iteration starts from a pooled copy of
/// the body, as the body stage leaves it.
/// </summary>
[MemoryDiagnoser]
public class TimRuleBenchmarks
{
    private readonly DefaultHttpContext _context = new();
    private TimContentPolicy _policy = null!;
    private IInboundPolicy[] _timStages = [];
    private InboundRequestFeature _syncRequest = null!;
    private EndpointDescriptor _createRoom = null!;
    private EndpointDescriptor _send = null!;
    private EndpointDescriptor _sync = null!;
    private byte[] _rewrite = [];
    private byte[] _noRewrite = [];
    private byte[] _message = [];

    public static string CreateRoomJson(bool needsRewrite) =>
        "{" + (needsRewrite ? string.Empty : "\"room_version\":\"10\",")
        + "\"preset\":\"public_chat\",\"visibility\":\"public\",\"name\":\"Praxis Dr. Müller – Terminabsprachen 🩺\",\"topic\":\"Fragen zu Terminen und Rezepten\","
        + "\"invite\":[\"@patient.1234:tim.example.org\"],"
        + "\"creation_content\":{\"type\":\"de.gematik.tim.roomtype.casereference.v1\",\"org.example.case\":{\"id\":\"A-2026-0815\",\"priority\":2}"
        + (needsRewrite ? string.Empty : ",\"m.federate\":false") + "},"
        + "\"initial_state\":[{\"type\":\"m.room.encryption\",\"state_key\":\"\",\"content\":{\"algorithm\":\"m.megolm.v1.aes-sha2\",\"rotation_period_ms\":604800000}},"
        + "{\"type\":\"m.room.history_visibility\",\"state_key\":\"\",\"content\":{\"history_visibility\":\"shared\"}},"
        + "{\"type\":\"m.room.guest_access\",\"state_key\":\"\",\"content\":{\"guest_access\":\"forbidden\"}},"
        + "{\"type\":\"de.gematik.tim.room.default.v1\",\"state_key\":\"\",\"content\":{\"name\":\"Terminabsprachen\",\"org.example.tags\":[\"praxis\",\"termine\"]}}],"
        + "\"power_level_content_override\":{\"users\":{\"@dr.mueller:tim.example.org\":100,\"@mfa.schmidt:tim.example.org\":50},"
        + "\"events\":{\"m.room.name\":50,\"m.room.power_levels\":100,\"m.room.history_visibility\":100,\"m.room.canonical_alias\":50,\"m.room.avatar\":50,\"m.room.tombstone\":100,\"m.room.server_acl\":100,\"m.room.encryption\":100,\"de.gematik.tim.room.default.v1\":50},"
        + "\"events_default\":0,\"state_default\":50,\"ban\":50,\"kick\":50,\"redact\":50,\"invite\":50,\"historical\":100,\"org.example.level\":75},"
        + "\"org.example.client\":{\"version\":\"1.4.2\",\"features\":[\"e2ee\",\"receipts\"]}}";

    [GlobalSetup]
    public void Setup()
    {
        var options = Options.Create(new TimOptions());
        var rulebook = options.Value.ToRulebook();
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _policy = new TimContentPolicy(options, rulebook, EmojiTable.Load(), new InboundMetrics(meters), NullLogger<TimContentPolicy>.Instance);
        var table = EndpointTable.LoadMatrixV111().WithTim(rulebook).Endpoints;
        _createRoom = table.Single(e => e.ToString() == "POST /_matrix/client/v3/createRoom");
        _send = table.Single(e => e.ToString() == "PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}");
        _sync = table.Single(e => e.ToString() == "GET /_matrix/client/v3/sync");
        _ = RequestTarget.TryParse("/_matrix/client/v3/sync?since=s1&timeout=30000", out var syncTarget);
        _syncRequest = new InboundRequestFeature(syncTarget, _sync, isPreflight: false);
        var inbound = Options.Create(new InboundOptions { HomeserverUrl = "http://127.0.0.1:8008" });
        _timStages =
        [
            new TimAnswerPolicy(),
            new GuestRegistrationPolicy(),
            _policy,
            // Its HTTP client is never used on a request the rule does not concern.
            new RedactionWindowPolicy(new MessengerProxy.Inbound.Homeserver.CallerRequests(new Yarp.ReverseProxy.Forwarder.ForwarderHttpClientFactory(), new MessengerProxy.Inbound.Forwarding.ForwardedHeaders(inbound), inbound),
                options, TimeProvider.System, new InboundMetrics(meters), NullLogger<RedactionWindowPolicy>.Instance),
        ];
        _rewrite = Encoding.UTF8.GetBytes(CreateRoomJson(needsRewrite: true));
        _noRewrite = Encoding.UTF8.GetBytes(CreateRoomJson(needsRewrite: false));
        _message = Encoding.UTF8.GetBytes("{\"msgtype\":\"m.text\",\"body\":\"" + new string('x', 1000) + "\"}");
        Console.WriteLine($"// createRoom body {_rewrite.Length} bytes (rewritten: {Run(_createRoom, "/_matrix/client/v3/createRoom", _rewrite)} bytes), without rewrite {_noRewrite.Length} bytes, message {_message.Length} bytes");
    }

    [Benchmark(Description = "createRoom, room_version and m.federate written in")]
    public int CreateRoomRewritten() => Run(_createRoom, "/_matrix/client/v3/createRoom", _rewrite);

    [Benchmark(Description = "createRoom within the rules (checked, not rewritten)")]
    public int CreateRoomChecked() => Run(_createRoom, "/_matrix/client/v3/createRoom", _noRewrite);

    [Benchmark(Description = "send m.room.message 1 KiB (thread check)")]
    public int SendChecked() => Run(_send, "/_matrix/client/v3/rooms/%21room%3Aexample.org/send/m.room.message/txn1", _message);

    [Benchmark(Description = "GET /sync through all four TIM stages: no rule concerns it")]
    public bool SyncUntouched()
    {
        var untouched = true;
        foreach (var stage in _timStages)
        {
            untouched &= stage.EvaluateAsync(_context, _syncRequest).Result is null;
        }

        return untouched;
    }

    private int Run(EndpointDescriptor endpoint, string raw, byte[] json)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(json.Length);
        json.CopyTo(buffer, 0);
        using var body = new BufferedRequestBody(buffer, json.Length);
        _ = RequestTarget.TryParse(raw, out var target);
        var request = new InboundRequestFeature(target, endpoint, isPreflight: false) { Body = body };
        var error = _policy.EvaluateAsync(_context, request).Result;
        if (error is not null)
        {
            throw new InvalidOperationException(error.Message);
        }

        return body.Length;
    }
}
