using System.Buffers;
using MessengerProxy.LowBandwidth.Configuration;
using MessengerProxy.LowBandwidth.Diagnostics;
using Microsoft.Extensions.Options;

namespace MessengerProxy.LowBandwidth.Association;

/// <summary>How one Block1 block fared.</summary>
internal enum UploadStep
{
    Appended,

    /// <summary>Not the block that comes next, or no upload is in progress under its token (RFC 7959 §2.9.2: 4.08).</summary>
    OutOfOrder,

    /// <summary>The upload was dropped: no block for <see cref="LowBandwidthOptions.UploadIdleTimeout"/>, or its memory went to newer bodies (4.08).</summary>
    Dropped,

    /// <summary>The upload would not fit even in an empty budget (5.03).</summary>
    NoRoom,
}

/// <summary>
/// One memory budget, <see cref="LowBandwidthOptions.MaxBufferedBodyBytes"/>, for everything the front door keeps
/// between datagrams across all associations: request bodies being assembled from Block1 blocks and whole
/// answers kept for their Block2 blocks. Per-association caps alone would let many associations hold
/// gigabytes. When a block or an answer does not fit, the least recently used bodies are dropped first; one
/// that would not fit in the whole budget is refused. An unfinished upload is also dropped after
/// <see cref="LowBandwidthOptions.UploadIdleTimeout"/> without a new block, rather than living as long as
/// its association.
/// </summary>
/// <remarks>
/// Entries belong to associations, but only this type touches their memory, under its one lock: dropping one
/// frees it at once, without reaching into the association (which forgets the entry when it next looks).
/// </remarks>
internal sealed class BodyBudget
{
    private readonly LinkedList<BufferedBody> _byLastUse = new();
    private readonly Lock _gate = new();
    private readonly long _limit;
    private readonly TimeSpan _uploadIdle;
    private readonly TimeProvider _time;
    private readonly LowBandwidthMetrics _metrics;
    private long _used;

    public BodyBudget(IOptions<LowBandwidthOptions> options, TimeProvider time, LowBandwidthMetrics metrics)
    {
        _limit = options.Value.MaxBufferedBodyBytes;
        _uploadIdle = options.Value.UploadIdleTimeout;
        _time = time;
        _metrics = metrics;
    }

    /// <summary>Bytes held now.</summary>
    public long Used
    {
        get
        {
            lock (_gate)
            {
                return _used;
            }
        }
    }

    public BufferedUpload StartUpload()
    {
        var upload = new BufferedUpload(_time.GetUtcNow());
        lock (_gate)
        {
            upload.Node = _byLastUse.AddLast(upload);
        }

        return upload;
    }

    /// <summary>Appends the block at <paramref name="offset"/>; anything but <see cref="UploadStep.Appended"/> ends the upload.</summary>
    public UploadStep Append(BufferedUpload upload, long offset, ReadOnlySpan<byte> block)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (upload.Node is null)
            {
                return UploadStep.Dropped;
            }

            if (now - upload.LastBlock >= _uploadIdle)
            {
                DropLocked(upload, "idle");
                return UploadStep.Dropped;
            }

            if (upload.Length != offset)
            {
                ReleaseLocked(upload);
                return UploadStep.OutOfOrder;
            }

            if (block.IsEmpty)
            {
                Touch(upload);
                upload.LastBlock = now;
                return UploadStep.Appended;
            }

            // What the pool hands out is what the block costs.
            var chunk = ArrayPool<byte>.Shared.Rent(block.Length);
            if (upload.Size + chunk.Length > _limit)
            {
                ArrayPool<byte>.Shared.Return(chunk);
                DropLocked(upload, "budget");
                return UploadStep.NoRoom;
            }

            Touch(upload);
            MakeRoomLocked(chunk.Length);
            block.CopyTo(chunk);
            upload.Chunks.Add((chunk, block.Length));
            upload.Length += block.Length;
            upload.LastBlock = now;
            Grow(upload, chunk.Length);
            return UploadStep.Appended;
        }
    }

    /// <summary>The whole body of a finished upload, which ends it; null when it was dropped meanwhile.</summary>
    public byte[]? Take(BufferedUpload upload)
    {
        lock (_gate)
        {
            if (upload.Node is null)
            {
                return null;
            }

            var body = new byte[upload.Length];
            var at = 0;
            foreach (var (chunk, length) in upload.Chunks)
            {
                chunk.AsSpan(0, length).CopyTo(body.AsSpan(at));
                at += length;
            }

            ReleaseLocked(upload);
            return body;
        }
    }

    /// <summary>Keeps an answer for its later blocks; null when it would not fit in the whole budget.</summary>
    public BufferedAnswer? Keep(CachedBody body)
    {
        if (body.Payload.Length > _limit)
        {
            return null;
        }

        var answer = new BufferedAnswer(body);
        lock (_gate)
        {
            MakeRoomLocked(body.Payload.Length);
            answer.Node = _byLastUse.AddLast(answer);
            Grow(answer, body.Payload.Length);
        }

        return answer;
    }

    /// <summary>The kept answer, now the most recently used; null (and released) once dropped or expired.</summary>
    public CachedBody? Read(BufferedAnswer answer, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (answer.Node is null || answer.Body is not { } body)
            {
                return null;
            }

            if (body.Expires <= now)
            {
                ReleaseLocked(answer);
                return null;
            }

            Touch(answer);
            return body;
        }
    }

    /// <summary>Whether an answer is still there and unexpired (without counting as a use).</summary>
    public bool IsLive(BufferedAnswer answer, DateTimeOffset now)
    {
        lock (_gate)
        {
            return answer.Node is not null && answer.Body is { } body && body.Expires > now;
        }
    }

    public void Release(BufferedBody entry)
    {
        lock (_gate)
        {
            ReleaseLocked(entry);
        }
    }

    /// <summary>Frees uploads that have had no block for the idle timeout and answers past their lifetime, whether or not their clients come back.</summary>
    public void Sweep()
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            for (var node = _byLastUse.First; node is not null;)
            {
                var next = node.Next;
                switch (node.Value)
                {
                    case BufferedUpload upload when now - upload.LastBlock >= _uploadIdle:
                        DropLocked(upload, "idle");
                        break;
                    case BufferedAnswer { Body: { } body } answer when body.Expires <= now:
                        ReleaseLocked(answer);
                        break;
                }

                node = next;
            }
        }
    }

    private void MakeRoomLocked(long needed)
    {
        // The entry being grown was touched first, so it is the last the loop reaches.
        for (var node = _byLastUse.First; _used + needed > _limit && node is not null;)
        {
            var next = node.Next;
            DropLocked(node.Value, "budget");
            node = next;
        }
    }

    private void Touch(BufferedBody entry)
    {
        _byLastUse.Remove(entry.Node!);
        _byLastUse.AddLast(entry.Node!);
    }

    private void Grow(BufferedBody entry, long bytes)
    {
        entry.Size += bytes;
        _used += bytes;
    }

    private void DropLocked(BufferedBody entry, string reason)
    {
        if (entry.Node is not null)
        {
            _metrics.BodyDropped(entry is BufferedUpload ? "upload" : "answer", reason);
        }

        ReleaseLocked(entry);
    }

    private void ReleaseLocked(BufferedBody entry)
    {
        if (entry.Node is null)
        {
            return;
        }

        _byLastUse.Remove(entry.Node);
        entry.Node = null;
        _used -= entry.Size;
        entry.Size = 0;
        entry.Free();
    }
}

/// <summary>A body held under the <see cref="BodyBudget"/>; its fields belong to the budget's lock.</summary>
internal abstract class BufferedBody
{
    /// <summary>Its place in the budget's use order; null once dropped or released.</summary>
    internal LinkedListNode<BufferedBody>? Node { get; set; }

    internal long Size { get; set; }

    internal abstract void Free();
}

/// <summary>A request body arriving in Block1 blocks, kept as the blocks came (pooled), so growing it never copies.</summary>
internal sealed class BufferedUpload(DateTimeOffset started) : BufferedBody
{
    internal List<(byte[] Chunk, int Length)> Chunks { get; } = [];

    internal long Length { get; set; }

    internal DateTimeOffset LastBlock { get; set; } = started;

    internal override void Free()
    {
        foreach (var (chunk, _) in Chunks)
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        Chunks.Clear();
    }
}

/// <summary>A whole answer kept for its later Block2 blocks.</summary>
internal sealed class BufferedAnswer(CachedBody body) : BufferedBody
{
    internal CachedBody? Body { get; private set; } = body;

    /// <summary>When it expires, also after it was dropped (associations pick their oldest by it).</summary>
    internal DateTimeOffset Expires { get; } = body.Expires;

    internal override void Free() => Body = null;
}
