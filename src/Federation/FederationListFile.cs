using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Federation;

/// <summary>
/// The last good list on disk: the list (rewritten only when a new version arrives) and a small sidecar with
/// the time the registration service last confirmed it, so a restart knows how old the copy really is.
/// Both are replaced atomically (write aside, flush, rename).
/// </summary>
internal sealed class FederationListFile
{
    private readonly string _path;
    private readonly string _metaPath;

    public FederationListFile(IOptions<FederationOptions> options)
    {
        _path = System.IO.Path.GetFullPath(options.Value.CacheFile);
        _metaPath = _path + ".meta";
    }

    public string Path => _path;

    public async Task<(FederationList List, DateTimeOffset ConfirmedAt)?> LoadAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(_path))
        {
            return null;
        }

        var (list, confirmedAt) = FederationListCopy.Parse(await File.ReadAllBytesAsync(_path, cancellationToken), persisted: true);
        var confirmed = confirmedAt ?? File.GetLastWriteTimeUtc(_path);
        if (File.Exists(_metaPath))
        {
            using var meta = JsonDocument.Parse(await File.ReadAllBytesAsync(_metaPath, cancellationToken));
            if (meta.RootElement.TryGetProperty("version", out var version) && version.TryGetInt64(out var v) && v == list.Version
                && meta.RootElement.TryGetProperty("confirmedAt", out var at) && at.ValueKind == JsonValueKind.String)
            {
                confirmed = DateTimeOffset.Parse(at.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            }
        }

        return (list, confirmed);
    }

    public Task SaveListAsync(FederationList list, DateTimeOffset confirmedAt, CancellationToken cancellationToken) =>
        ReplaceAsync(_path, stream => FederationListCopy.Write(stream, list, confirmedAt), cancellationToken);

    public Task SaveConfirmationAsync(long version, DateTimeOffset confirmedAt, CancellationToken cancellationToken) =>
        ReplaceAsync(_metaPath, stream =>
        {
            using var writer = new Utf8JsonWriter(stream);
            writer.WriteStartObject();
            writer.WriteNumber("version", version);
            writer.WriteString("confirmedAt", confirmedAt.ToString("O", CultureInfo.InvariantCulture));
            writer.WriteEndObject();
        }, cancellationToken);

    private static async Task ReplaceAsync(string path, Action<Stream> write, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, FileOptions.Asynchronous))
        {
            write(stream);
            await stream.FlushAsync(cancellationToken);
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
