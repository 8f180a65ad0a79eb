using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MessengerProxy.Federation;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Inbound.Diagnostics;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Federation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Math.EC.Rfc8032;

namespace MessengerProxy.Inbound.ServerKeys;

/// <summary>A key look-up: the public key, or the refusal to answer and the metric reason.</summary>
internal readonly record struct KeyLookup(Ed25519.PublicPoint? PublicKey, MatrixError? Error, string Reason);

/// <summary>
/// Other servers' verify keys, fetched from the notary (by default the homeserver, which fetches them through the
/// outbound proxy and so subject to the federation list) and kept until their <c>valid_until_ts</c> (at most
/// 7 days). Only a listed origin is ever asked about. One fetch per server at a time however many requests wait
/// for it (single flight), and at most one per <c>Federation:KeyRefetchInterval</c> for unknown key IDs or after a
/// failure, so a flood of requests with made-up key IDs does not become a flood of fetches.
/// </summary>
internal sealed partial class ServerKeyStore : IAsyncDisposable
{
    public const string HttpClientName = "MessengerProxy.ServerKeys";

    // A key response is a few hundred bytes; a notary answer far beyond this is no key response.
    private const int MaxResponseBytes = 1024 * 1024;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly FederationListCache _federation;
    private readonly TimeProvider _time;
    private readonly InboundMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Uri _queryUrl;
    private readonly int _maxServers;
    private readonly TimeSpan _refetchInterval;

    public ServerKeyStore(IHttpClientFactory httpClientFactory, IOptions<FederationOptions> federationOptions, IOptions<InboundOptions> inboundOptions,
        FederationListCache federation, TimeProvider time, InboundMetrics metrics, ILogger<ServerKeyStore> logger)
    {
        _httpClientFactory = httpClientFactory;
        _federation = federation;
        _time = time;
        _metrics = metrics;
        _logger = logger;
        var options = federationOptions.Value;
        var notary = string.IsNullOrEmpty(options.KeyNotaryUrl) ? inboundOptions.Value.HomeserverUrl : options.KeyNotaryUrl;
        _queryUrl = new Uri(notary.TrimEnd('/') + "/_matrix/key/v2/query");
        _maxServers = options.MaxCachedServerKeys;
        _refetchInterval = options.KeyRefetchInterval;
    }

    /// <summary>The key <paramref name="keyId"/> of <paramref name="origin"/>, valid now.</summary>
    public async ValueTask<KeyLookup> GetAsync(string origin, string keyId, CancellationToken cancellationToken)
    {
        Task<FetchResult> fetch;
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (_entries.TryGetValue(origin, out var entry))
            {
                if (entry.Find(keyId, now) is { } key)
                {
                    return new KeyLookup(key, null, string.Empty);
                }

                if (entry.Pending is null && now < entry.NextFetch)
                {
                    return entry.Failure ?? UnknownKey(entry.Keys, keyId);
                }
            }
            else
            {
                entry = new Entry();
                MakeRoom(now);
                _entries[origin] = entry;
            }

            fetch = entry.Pending ??= FetchAsync(origin, keyId, entry);
        }

        var result = await fetch.WaitAsync(cancellationToken);
        if (result.Failure is { } failure)
        {
            return failure;
        }

        var found = result.Keys!.TryGetValue(keyId, out var fetched) && _time.GetUtcNow() < fetched.ValidUntil ? fetched.PublicKey : null;
        return found is not null ? new KeyLookup(found, null, string.Empty) : UnknownKey(result.Keys, keyId);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        Task[] pending;
        lock (_lock)
        {
            pending = [.. _entries.Values.Select(e => e.Pending).OfType<Task>()];
        }

        await Task.WhenAll(pending).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stopping.Dispose();
    }

    private static KeyLookup UnknownKey(IReadOnlyDictionary<string, ServerKey> keys, string keyId) =>
        new(null, new MatrixError(401, MatrixErrorCode.Unauthorized, keys.ContainsKey(keyId)
                ? "X-Matrix authorization: the signing key has expired"
                : "X-Matrix authorization: the origin has no such signing key"),
            keys.ContainsKey(keyId) ? "expired_key" : "unknown_key");

    // Forks off the caller's flow: the fetch belongs to every request waiting for it, not to the first one.
    private async Task<FetchResult> FetchAsync(string origin, string keyId, Entry entry)
    {
        await Task.Yield();
        var result = await FetchFromNotaryAsync(origin, keyId);
        _metrics.KeyFetch(result.Failure?.Reason ?? "fetched");
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            entry.NextFetch = now + _refetchInterval;
            entry.Failure = result.Failure;
            if (result.Keys is not null)
            {
                entry.Keys = result.Keys;
            }

            entry.Pending = null;
        }

        return result;
    }

    private async Task<FetchResult> FetchFromNotaryAsync(string origin, string keyId)
    {
        // The list is asked first: an unlisted server's keys are never fetched, whoever asks.
        if (_federation.Enforced)
        {
            var check = await _federation.CheckAsync(origin, _stopping.Token);
            if (FederationErrors.For(check, origin, "origin") is { } refused)
            {
                return FetchResult.Failed(refused with { Message = "X-Matrix origin is not part of the federation" }, "origin_not_listed");
            }
        }

        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _queryUrl);
            using var body = new MemoryStream();
            await using (var writer = new Utf8JsonWriter(body))
            {
                writer.WriteStartObject();
                writer.WriteStartObject("server_keys");
                writer.WriteStartObject(origin);
                // A key ID with a minimum validity, not "all keys": for that, Synapse answers only from its cache
                // and never fetches a server it has not seen yet.
                writer.WriteStartObject(keyId);
                writer.WriteNumber("minimum_valid_until_ts", _time.GetUtcNow().ToUnixTimeMilliseconds());
                writer.WriteEndObject();
                writer.WriteEndObject();
                writer.WriteEndObject();
                writer.WriteEndObject();
            }

            request.Content = new ByteArrayContent(body.ToArray()) { Headers = { ContentType = new MediaTypeHeaderValue("application/json") } };
            using var response = await _httpClientFactory.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, _stopping.Token);
            if (!response.IsSuccessStatusCode)
            {
                LogNotaryFailed(_logger, $"the notary answered {(int)response.StatusCode}");
                return NotaryDown();
            }

            if (response.Content.Headers.ContentLength > MaxResponseBytes)
            {
                LogNotaryFailed(_logger, "the notary's answer is too large");
                return NotaryDown();
            }

            await using var stream = await response.Content.ReadAsStreamAsync(_stopping.Token);
            var bytes = await ReadBoundedAsync(stream);
            if (bytes is null)
            {
                LogNotaryFailed(_logger, "the notary's answer is too large");
                return NotaryDown();
            }

            using var document = JsonDocument.Parse(bytes);
            return Collect(document.RootElement, origin);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or JsonException)
        {
            LogNotaryFailed(_logger, ex is JsonException ? "the notary's answer is not JSON" : ex.GetType().Name);
            return NotaryDown();
        }
    }

    private FetchResult Collect(JsonElement answer, string origin)
    {
        if (answer.ValueKind != JsonValueKind.Object || !answer.TryGetProperty("server_keys", out var responses) || responses.ValueKind != JsonValueKind.Array)
        {
            LogNotaryFailed(_logger, "the notary's answer has no server_keys array");
            return NotaryDown();
        }

        var now = _time.GetUtcNow();
        Dictionary<string, ServerKey>? keys = null;
        var problem = "the notary has no keys of the origin";
        foreach (var response in responses.EnumerateArray())
        {
            if (response.ValueKind == JsonValueKind.Object && response.TryGetProperty("server_name", out var name) && name.ValueKind == JsonValueKind.String && !name.ValueEquals(origin))
            {
                continue;
            }

            if (ServerKeyResponse.Read(response, origin, now, out var why) is not { } read)
            {
                problem = why;
                LogKeyResponseRefused(_logger, why);
                continue;
            }

            keys ??= new Dictionary<string, ServerKey>(StringComparer.Ordinal);
            foreach (var (id, key) in read)
            {
                // Several responses (a notary's cache and a fresh fetch): the longest validity of a key wins.
                if (!keys.TryGetValue(id, out var held) || held.ValidUntil < key.ValidUntil)
                {
                    keys[id] = key;
                }
            }
        }

        return keys is not null
            ? new FetchResult(keys, null)
            : FetchResult.Failed(new MatrixError(401, MatrixErrorCode.Unauthorized, $"X-Matrix authorization: the origin's keys are unavailable ({problem})"), "keys_unavailable");
    }

    private static FetchResult NotaryDown() => FetchResult.Failed(
        new MatrixError(503, MatrixErrorCode.Unknown, "The proxy cannot verify X-Matrix signatures at the moment; try again later"), "notary_unavailable");

    private static async Task<byte[]?> ReadBoundedAsync(Stream stream)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk)) > 0)
        {
            if (buffer.Length + read > MaxResponseBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    // Expired servers go first, then those whose keys expire soonest; in-flight fetches stay.
    private void MakeRoom(DateTimeOffset now)
    {
        while (_entries.Count >= _maxServers)
        {
            string? victim = null;
            var earliest = DateTimeOffset.MaxValue;
            foreach (var (server, entry) in _entries)
            {
                if (entry.Pending is null && entry.ExpiresAt(now) is var expires && expires < earliest)
                {
                    victim = server;
                    earliest = expires;
                }
            }

            if (victim is null)
            {
                return;
            }

            _entries.Remove(victim);
        }
    }

    [LoggerMessage(50, LogLevel.Warning, "Server keys could not be fetched from the notary: {Reason}", EventName = "KeyNotaryFailed")]
    private static partial void LogNotaryFailed(ILogger logger, string reason);

    [LoggerMessage(51, LogLevel.Warning, "A server key response was refused: {Reason}", EventName = "KeyResponseRefused")]
    private static partial void LogKeyResponseRefused(ILogger logger, string reason);

    private sealed record FetchResult(Dictionary<string, ServerKey>? Keys, KeyLookup? Failure)
    {
        public static FetchResult Failed(MatrixError error, string reason) => new(null, new KeyLookup(null, error, reason));
    }

    private sealed class Entry
    {
        public IReadOnlyDictionary<string, ServerKey> Keys { get; set; } = new Dictionary<string, ServerKey>();

        public Task<FetchResult>? Pending { get; set; }

        public DateTimeOffset NextFetch { get; set; }

        public KeyLookup? Failure { get; set; }

        public Ed25519.PublicPoint? Find(string keyId, DateTimeOffset now) =>
            Keys.TryGetValue(keyId, out var key) && now < key.ValidUntil ? key.PublicKey : null;

        public DateTimeOffset ExpiresAt(DateTimeOffset now) =>
            Keys.Count == 0 ? DateTimeOffset.MinValue : Keys.Values.Max(k => k.ValidUntil) is var max && max < now ? DateTimeOffset.MinValue : max;
    }
}
