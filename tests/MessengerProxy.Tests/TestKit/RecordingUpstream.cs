using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace MessengerProxy.Tests.TestKit;

/// <summary>What the stand-in homeserver received, exactly as it arrived.</summary>
public sealed record RecordedRequest(
    string Method,
    string RawTarget,
    IReadOnlyDictionary<string, string[]> Headers,
    byte[] Body,
    long BodyLength,
    string BodySha256,
    string ConnectionId)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var values) ? string.Join(", ", values) : null;
}

/// <summary>
/// A small HTTP server on a loopback port that stands in for the homeserver: it records method, raw target,
/// headers and body of every request (hashing large bodies as they stream) and answers with a handler.
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    public const string TestIdHeader = "X-Test-Id";
    private const int KeptBodyBytes = 1024 * 1024;

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<string> _heads = new();

    private RecordingUpstream(WebApplication app) => _app = app;

    /// <summary>Answers after the request is recorded. Default: a versions document for /versions, <c>{"ok":true}</c> otherwise.</summary>
    public Func<HttpContext, RecordedRequest, Task> Respond { get; set; } = DefaultRespondAsync;

    public Uri BaseUri { get; private set; } = null!;

    public IReadOnlyCollection<RecordedRequest> Requests => _requests;

    /// <param name="certificate">Serve HTTPS with this certificate instead of plain HTTP.</param>
    public static async Task<RecordingUpstream> StartAsync(System.Security.Cryptography.X509Certificates.X509Certificate2? certificate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            k.Listen(IPAddress.Loopback, 0, listen =>
            {
                if (certificate is not null)
                {
                    listen.UseHttps(certificate);
                }
            });
        });
        var app = builder.Build();
        var upstream = new RecordingUpstream(app);
        app.Run(upstream.HandleAsync);
        await app.StartAsync();
        upstream.BaseUri = new Uri(app.Urls.First());
        return upstream;
    }

    /// <summary>
    /// The test ids of every request whose head arrived, recorded before its body is read: a request the proxy
    /// started and then aborted is here but not in <see cref="Requests"/>.
    /// </summary>
    public IReadOnlyList<string> HeadsWithTestId(string testId) => _heads.Where(h => h == testId).ToList();

    public IReadOnlyList<RecordedRequest> WithTestId(string testId) =>
        _requests.Where(r => r.Header(TestIdHeader) == testId).ToList();

    public RecordedRequest Single(string testId)
    {
        var matches = WithTestId(testId);
        Assert.True(matches.Count == 1, $"expected exactly one upstream request with {TestIdHeader} {testId}, found {matches.Count}");
        return matches[0];
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()!.RawTarget;
        _heads.Enqueue(context.Request.Headers[TestIdHeader].ToString());
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var kept = new MemoryStream();
        var buffer = new byte[64 * 1024];
        long length = 0;
        int read;
        while ((read = await context.Request.Body.ReadAsync(buffer, context.RequestAborted)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            if (kept.Length < KeptBodyBytes)
            {
                kept.Write(buffer, 0, (int)Math.Min(read, KeptBodyBytes - kept.Length));
            }

            length += read;
        }

        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.Select(v => v ?? string.Empty).ToArray(), StringComparer.OrdinalIgnoreCase);
        var recorded = new RecordedRequest(context.Request.Method, raw, headers, kept.ToArray(), length, Convert.ToHexString(sha.GetHashAndReset()), context.Connection.Id);
        _requests.Enqueue(recorded);
        await Respond(context, recorded);
    }

    public static Task DefaultRespondAsync(HttpContext context, RecordedRequest request)
    {
        context.Response.ContentType = "application/json";
        var path = request.RawTarget.Split('?')[0];
        return context.Response.WriteAsync(path switch
        {
            "/_matrix/client/versions" => """{"versions":["v1.11"],"unstable_features":{}}""",
            "/.well-known/matrix/client" => """{"m.homeserver":{"base_url":"http://internal:8008"}}""",
            _ => """{"ok":true}""",
        });
    }
}
