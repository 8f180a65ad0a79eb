namespace MessengerProxy.LowBandwidth.Association;

/// <summary>
/// An association's request bodies arriving in Block1 blocks (RFC 7959 §2.5), keyed by token and request, their
/// memory held under the shared <see cref="BodyBudget"/>.
/// </summary>
internal sealed class Block1Assembler
{
    // A client uploads one body at a time; a few more in parallel is generous, more is an attack on memory.
    private const int MaxUploads = 2;

    private readonly Dictionary<string, BufferedUpload> _uploads = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly BodyBudget _budget;

    public Block1Assembler(BodyBudget budget) => _budget = budget;

    /// <summary>Appends a block (block 0 starts the upload afresh); anything but <see cref="UploadStep.Appended"/> ends the upload.</summary>
    public UploadStep Append(string key, uint number, ReadOnlySpan<byte> block, int blockSize)
    {
        lock (_gate)
        {
            if (number == 0)
            {
                if (_uploads.Remove(key, out var restarted))
                {
                    _budget.Release(restarted);
                }
                else if (_uploads.Count >= MaxUploads)
                {
                    var (firstKey, first) = _uploads.First();
                    _uploads.Remove(firstKey);
                    _budget.Release(first);
                }

                _uploads[key] = _budget.StartUpload();
            }

            if (!_uploads.TryGetValue(key, out var upload))
            {
                return UploadStep.OutOfOrder;
            }

            var step = _budget.Append(upload, (long)number * blockSize, block);
            if (step != UploadStep.Appended)
            {
                _uploads.Remove(key);
            }

            return step;
        }
    }

    /// <summary>The assembled body of a finished upload, which ends it; null when it was dropped meanwhile.</summary>
    public byte[]? Take(string key)
    {
        lock (_gate)
        {
            return _uploads.Remove(key, out var upload) ? _budget.Take(upload) : null;
        }
    }

    public void End(string key)
    {
        lock (_gate)
        {
            if (_uploads.Remove(key, out var upload))
            {
                _budget.Release(upload);
            }
        }
    }

    /// <summary>Frees every upload: the association is gone.</summary>
    public void Clear()
    {
        lock (_gate)
        {
            foreach (var upload in _uploads.Values)
            {
                _budget.Release(upload);
            }

            _uploads.Clear();
        }
    }
}
