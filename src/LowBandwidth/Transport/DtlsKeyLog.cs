namespace MessengerProxy.LowBandwidth.Transport;

/// <summary>
/// Appends DTLS session secrets in the NSS key log format (<c>CLIENT_RANDOM &lt;client random&gt; &lt;master secret&gt;</c>)
/// so Wireshark can decrypt captures, like <c>SSLKEYLOGFILE</c> for browsers and lb's <c>KeyLogWriter</c>.
/// </summary>
internal sealed class DtlsKeyLog
{
    private readonly string _path;
    private readonly Lock _gate = new();

    public DtlsKeyLog(string path) => _path = path;

    public string Path => _path;

    public void Write(ReadOnlySpan<byte> clientRandom, ReadOnlySpan<byte> masterSecret)
    {
        var line = $"CLIENT_RANDOM {Convert.ToHexStringLower(clientRandom)} {Convert.ToHexStringLower(masterSecret)}\n";

        // Handshakes finish on their own threads; one line must never interleave with another.
        lock (_gate)
        {
            File.AppendAllText(_path, line);
        }
    }
}
