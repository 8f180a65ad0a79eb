using System.Net.Sockets;
using System.Text;

namespace MessengerProxy.Tests.TestKit;

public sealed record RawResponse(int StatusCode, string StatusLine, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    public string BodyText => Encoding.UTF8.GetString(Body);

    public string? Header(string name) =>
        Headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
}

/// <summary>
/// Sends requests byte for byte over a plain socket, so the test controls exactly what goes on the wire
/// (HttpClient and System.Uri would normalise targets and refuse malformed framing).
/// </summary>
public static class RawHttp
{
    public static Task<RawResponse> SendAsync(int port, string request, bool headRequest = false) =>
        SendAsync(port, Encoding.Latin1.GetBytes(request), headRequest);

    public static async Task<RawResponse> SendAsync(int port, byte[] request, bool headRequest = false)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port, timeout.Token);
        var stream = client.GetStream();
        await stream.WriteAsync(request, timeout.Token);
        return await ReadResponseAsync(stream, headRequest, timeout.Token);
    }

    /// <summary>
    /// A request with the given method and raw target (sent as is), extra header lines (each ending in CRLF)
    /// and a UTF-8 body with its Content-Length.
    /// </summary>
    public static byte[] Request(string method, string target, string extraHeaders = "", string body = "")
    {
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = $"{method} {target} HTTP/1.1\r\nHost: matrix.example.org\r\nConnection: close\r\n{extraHeaders}"
            + (bodyBytes.Length > 0 || method is "POST" or "PUT" ? $"Content-Length: {bodyBytes.Length}\r\n" : string.Empty)
            + "\r\n";
        return [.. Encoding.Latin1.GetBytes(head), .. bodyBytes];
    }

    public static Task<RawResponse> ReadResponseAsync(Stream stream, bool headRequest, CancellationToken cancellationToken) =>
        ReadResponseAsync(new BufferedReader(stream), headRequest, cancellationToken);

    /// <summary>Reads several responses from one connection (pipelining); they may arrive in one packet.</summary>
    public static async Task<IReadOnlyList<RawResponse>> ReadResponsesAsync(Stream stream, int count, CancellationToken cancellationToken)
    {
        var reader = new BufferedReader(stream);
        var responses = new List<RawResponse>();
        for (var i = 0; i < count; i++)
        {
            responses.Add(await ReadResponseAsync(reader, headRequest: false, cancellationToken));
        }

        return responses;
    }

    private static async Task<RawResponse> ReadResponseAsync(BufferedReader reader, bool headRequest, CancellationToken cancellationToken)
    {
        var statusLine = await reader.ReadLineAsync(cancellationToken) ?? throw new IOException("connection closed before a status line");
        var parts = statusLine.Split(' ', 3);
        var status = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new List<KeyValuePair<string, string>>();
        string? line;
        while (!string.IsNullOrEmpty(line = await reader.ReadLineAsync(cancellationToken)))
        {
            var colon = line.IndexOf(':');
            headers.Add(new(line[..colon].Trim(), line[(colon + 1)..].Trim()));
        }

        string? Get(string name) => headers.Where(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
        byte[] body;
        if (headRequest || status is 204 or 304 || status < 200)
        {
            body = [];
        }
        else if (Get("Transfer-Encoding") is { } te && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            using var buffer = new MemoryStream();
            while (true)
            {
                var size = Convert.ToInt32((await reader.ReadLineAsync(cancellationToken))!.Split(';')[0], 16);
                if (size == 0)
                {
                    while (!string.IsNullOrEmpty(await reader.ReadLineAsync(cancellationToken)))
                    {
                    }

                    break;
                }

                buffer.Write(await reader.ReadExactlyAsync(size, cancellationToken));
                await reader.ReadLineAsync(cancellationToken);
            }

            body = buffer.ToArray();
        }
        else if (Get("Content-Length") is { } cl)
        {
            body = await reader.ReadExactlyAsync(int.Parse(cl, System.Globalization.CultureInfo.InvariantCulture), cancellationToken);
        }
        else
        {
            body = await reader.ReadToEndAsync(cancellationToken);
        }

        return new RawResponse(status, statusLine, headers, body);
    }

    private sealed class BufferedReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new MemoryStream();
            while (true)
            {
                if (_start == _end && !await FillAsync(cancellationToken))
                {
                    return line.Length == 0 ? null : Encoding.Latin1.GetString(line.ToArray());
                }

                var b = _buffer[_start++];
                if (b == '\n')
                {
                    var bytes = line.ToArray();
                    var length = bytes.Length > 0 && bytes[^1] == '\r' ? bytes.Length - 1 : bytes.Length;
                    return Encoding.Latin1.GetString(bytes, 0, length);
                }

                line.WriteByte(b);
            }
        }

        public async Task<byte[]> ReadExactlyAsync(int count, CancellationToken cancellationToken)
        {
            var result = new byte[count];
            var filled = 0;
            while (filled < count)
            {
                if (_start == _end && !await FillAsync(cancellationToken))
                {
                    throw new EndOfStreamException($"body ended after {filled} of {count} bytes");
                }

                var n = Math.Min(count - filled, _end - _start);
                Array.Copy(_buffer, _start, result, filled, n);
                _start += n;
                filled += n;
            }

            return result;
        }

        public async Task<byte[]> ReadToEndAsync(CancellationToken cancellationToken)
        {
            using var all = new MemoryStream();
            do
            {
                all.Write(_buffer, _start, _end - _start);
                _start = _end;
            }
            while (await FillAsync(cancellationToken));

            return all.ToArray();
        }

        private async Task<bool> FillAsync(CancellationToken cancellationToken)
        {
            _start = 0;
            _end = await stream.ReadAsync(_buffer, cancellationToken);
            return _end > 0;
        }
    }
}
