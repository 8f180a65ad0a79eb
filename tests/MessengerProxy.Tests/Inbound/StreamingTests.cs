using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

/// <summary>Large media pass through a separate proxy process whose peak memory does not follow the body size.</summary>
public sealed class StreamingTests
{
    private const long BodyBytes = 200L * 1024 * 1024;

    // Buffering either body would raise the peak by at least its 200 MiB; streaming stays within pooled buffers.
    private const long AllowedGrowthBytes = 64L * 1024 * 1024;

    [Fact]
    public async Task MediaUploadAndDownloadOf200MB_StreamWithBoundedMemory()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        upstream.Respond = async (context, request) =>
        {
            if (HttpMethods.IsGet(request.Method) && request.RawTarget.Contains("/download/", StringComparison.Ordinal))
            {
                var size = long.Parse(request.RawTarget.Split('?')[1].Split('=')[1], System.Globalization.CultureInfo.InvariantCulture);
                context.Response.ContentType = "application/octet-stream";
                context.Response.ContentLength = size;
                await using var source = new PatternStream(size);
                await source.CopyToAsync(context.Response.Body, 64 * 1024, context.RequestAborted);
                return;
            }

            await RecordingUpstream.DefaultRespondAsync(context, request);
        };
        await using var proxy = await ProxyProcess.StartAsync(upstream.BaseUri.ToString().TrimEnd('/'), $"Inbound:MaxUploadBodyBytes={BodyBytes * 2}", "Federation:Enforce=false");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxy.InboundPort}"), Timeout = TimeSpan.FromMinutes(2) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "syt_token");

        // Warm up every code path with small bodies, so the baseline includes JIT and pools.
        await UploadAsync(client, 4 * 1024 * 1024);
        await DownloadAsync(client, 4 * 1024 * 1024);
        var baseline = proxy.PeakResidentBytes();

        var uploadHash = await UploadAsync(client, BodyBytes);
        var downloadHash = await DownloadAsync(client, BodyBytes);
        var peak = proxy.PeakResidentBytes();

        var received = upstream.Requests.Last(r => r.Method == "POST");
        Assert.Equal(BodyBytes, received.BodyLength);
        Assert.Equal(uploadHash, received.BodySha256);
        Assert.Equal(PatternStream.Sha256(BodyBytes), downloadHash);
        Assert.True(peak - baseline < AllowedGrowthBytes,
            $"peak RSS grew by {(peak - baseline) / (1024 * 1024)} MiB while 2 x {BodyBytes / (1024 * 1024)} MiB streamed (baseline {baseline / (1024 * 1024)} MiB)");
    }

    private static async Task<string> UploadAsync(HttpClient client, long size)
    {
        await using var body = new PatternStream(size);
        using var content = new StreamContent(body, 64 * 1024);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.ContentLength = size;
        using var response = await client.PostAsync("/_matrix/media/v3/upload?filename=big.bin", content, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return PatternStream.Sha256(size);
    }

    private static async Task<string> DownloadAsync(HttpClient client, long size)
    {
        using var response = await client.GetAsync($"/_matrix/client/v1/media/download/ex.org/big?size={size}", HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var stream = await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[64 * 1024];
        long total = 0;
        int read;
        while ((read = await stream.ReadAsync(buffer, TestContext.Current.CancellationToken)) > 0)
        {
            sha.AppendData(buffer, 0, read);
            total += read;
        }

        Assert.Equal(size, total);
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>A deterministic, non-repeating byte stream of a given length, generated on the fly.</summary>
    private sealed class PatternStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => length;

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public static string Sha256(long length)
        {
            using var stream = new PatternStream(length);
            return Convert.ToHexString(SHA256.HashData(stream));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = (int)Math.Min(buffer.Length, length - _position);
            for (var i = 0; i < n; i++)
            {
                var p = (ulong)(_position + i);
                buffer[i] = (byte)((p * 2654435761UL) >> 13 ^ p >> 8);
            }

            _position += n;
            return n;
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => Task.FromResult(Read(buffer, offset, count));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
