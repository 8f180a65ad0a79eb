namespace MessengerProxy.Hosting.Io;

/// <summary>Reads small documents from other services without trusting them to be small.</summary>
internal static class BoundedRead
{
    /// <summary>
    /// Reads <paramref name="stream"/> to its end. More than <paramref name="limit"/> bytes, declared
    /// (<paramref name="declaredLength"/>) or actual, is a <see cref="FormatException"/> naming <paramref name="what"/>.
    /// </summary>
    public static async Task<ReadOnlyMemory<byte>> ToEndAsync(Stream stream, long limit, string what, long? declaredLength, CancellationToken cancellationToken)
    {
        if (declaredLength > limit)
        {
            throw new FormatException($"{what} of {declaredLength} bytes exceeds the limit of {limit} bytes");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new FormatException($"{what} exceeds the limit of {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }
}
