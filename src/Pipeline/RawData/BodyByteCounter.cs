using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace MessengerProxy.Pipeline.RawData;

/// <summary>
/// Counts the body bytes a reported request actually transfers: read from the client (whoever reads — the body stage,
/// YARP) and written to it (YARP's copy, a Matrix error, a local answer). Put around the request's body and response
/// body feature after admission, for reported requests only, and taken away again when the pipeline is done, so
/// nothing after the pipeline sees the wrappers. Header bytes are not counted: the record's sizes are bodies.
/// </summary>
internal sealed class BodyByteCounter
{
    private readonly HttpContext _context;
    private readonly Stream _requestBody;
    private readonly IHttpResponseBodyFeature _responseBody;
    private readonly CountingRequestStream _counted;
    private readonly CountingResponseBodyFeature _countedResponse;

    private BodyByteCounter(HttpContext context)
    {
        _context = context;
        _requestBody = context.Request.Body;
        _responseBody = context.Features.Get<IHttpResponseBodyFeature>()!;
        _counted = new CountingRequestStream(_requestBody);
        _countedResponse = new CountingResponseBodyFeature(_responseBody);
        context.Request.Body = _counted;
        context.Features.Set<IHttpResponseBodyFeature>(_countedResponse);
    }

    public long RequestBytes => _counted.Count;

    public long ResponseBytes => _countedResponse.Count;

    public static BodyByteCounter? Attach(HttpContext context) =>
        context.Features.Get<IHttpResponseBodyFeature>() is null ? null : new BodyByteCounter(context);

    /// <summary>Puts the original body and response feature back.</summary>
    public void Detach()
    {
        // A stage may have replaced the body (the inbound body stage forwards its buffered copy); that is not ours to undo.
        if (ReferenceEquals(_context.Request.Body, _counted))
        {
            _context.Request.Body = _requestBody;
        }

        _context.Features.Set(_responseBody);
    }

    private sealed class CountingRequestStream(Stream inner) : Stream
    {
        public long Count { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Counted(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Counted(inner.Read(buffer));

        public override async Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Counted(await inner.ReadAsync(buffer.AsMemory(offset, count), cancellationToken));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Counted(await inner.ReadAsync(buffer, cancellationToken));

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        private int Counted(int read)
        {
            Count += read;
            return read;
        }
    }

    /// <summary>Both ways of writing a response (the stream and the pipe) count; everything else is the server's feature.</summary>
    private sealed class CountingResponseBodyFeature : IHttpResponseBodyFeature
    {
        private readonly IHttpResponseBodyFeature _inner;
        private readonly CountingStream _stream;
        private readonly CountingWriter _writer;

        public CountingResponseBodyFeature(IHttpResponseBodyFeature inner)
        {
            _inner = inner;
            _stream = new CountingStream(this, inner.Stream);
            _writer = new CountingWriter(this, inner.Writer);
        }

        public long Count { get; private set; }

        public Stream Stream => _stream;

        public PipeWriter Writer => _writer;

        public void DisableBuffering() => _inner.DisableBuffering();

        public Task StartAsync(CancellationToken cancellationToken = default) => _inner.StartAsync(cancellationToken);

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await _inner.SendFileAsync(path, offset, count, cancellationToken);
            Count += count ?? new FileInfo(path).Length - offset;
        }

        public Task CompleteAsync() => _inner.CompleteAsync();

        private sealed class CountingStream(CountingResponseBodyFeature owner, Stream inner) : Stream
        {
            public override bool CanRead => false;
            public override bool CanSeek => false;
            public override bool CanWrite => true;
            public override long Length => throw new NotSupportedException();
            public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

            public override void Write(byte[] buffer, int offset, int count)
            {
                inner.Write(buffer, offset, count);
                owner.Count += count;
            }

            public override void Write(ReadOnlySpan<byte> buffer)
            {
                inner.Write(buffer);
                owner.Count += buffer.Length;
            }

            public override async Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
            {
                await inner.WriteAsync(buffer.AsMemory(offset, count), cancellationToken);
                owner.Count += count;
            }

            public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
            {
                await inner.WriteAsync(buffer, cancellationToken);
                owner.Count += buffer.Length;
            }

            public override void Flush() => inner.Flush();

            public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

            public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

            public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

            public override void SetLength(long value) => throw new NotSupportedException();
        }

        private sealed class CountingWriter(CountingResponseBodyFeature owner, PipeWriter inner) : PipeWriter
        {
            public override void Advance(int bytes)
            {
                inner.Advance(bytes);
                owner.Count += bytes;
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

            public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

            public override long UnflushedBytes => inner.UnflushedBytes;
        }
    }
}
