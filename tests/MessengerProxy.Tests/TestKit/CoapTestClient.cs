using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using MessengerProxy.LowBandwidth.Coap;

namespace MessengerProxy.Tests.TestKit;

/// <summary>A bare UDP CoAP peer for message-layer tests: sends exactly the datagrams a test builds and reads what comes back.</summary>
internal sealed class CoapTestClient : IDisposable
{
    private readonly UdpClient _udp = new(new IPEndPoint(IPAddress.Loopback, 0));
    private readonly IPEndPoint _server;
    private ushort _messageId = (ushort)Random.Shared.Next(ushort.MaxValue);

    public CoapTestClient(IPEndPoint server) => _server = server;

    public ushort NextMessageId() => ++_messageId;

    public Task SendAsync(CoapMessage message) => SendRawAsync(message.Serialize());

    public async Task SendRawAsync(byte[] datagram) => await _udp.SendAsync(datagram, _server, TestContext.Current.CancellationToken);

    /// <summary>The next datagram, parsed; null when nothing arrives within <paramref name="wait"/>.</summary>
    public async Task<CoapMessage?> ReceiveAsync(TimeSpan? wait = null)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(wait ?? TimeSpan.FromSeconds(15));
        try
        {
            var result = await _udp.ReceiveAsync(timeout.Token);
            Assert.Equal(CoapFormatError.None, CoapMessage.TryParse(result.Buffer, out var message));
            return message;
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>A CON request; the answer (piggybacked, or the separate response after an empty ACK, which is acknowledged).</summary>
    public async Task<CoapMessage> RequestAsync(CoapMessage request)
    {
        await SendAsync(request);
        while (true)
        {
            var message = await ReceiveAsync() ?? throw new TimeoutException("no answer from the CoAP server");
            if (message.Type == CoapType.Acknowledgement && message.MessageId == request.MessageId && !message.IsEmpty)
            {
                return message;
            }

            if (message.Type is CoapType.Confirmable or CoapType.NonConfirmable && message.Token.Span.SequenceEqual(request.Token.Span))
            {
                if (message.Type == CoapType.Confirmable)
                {
                    await SendAsync(new CoapMessage { Type = CoapType.Acknowledgement, Code = 0, MessageId = message.MessageId });
                }

                return message;
            }
        }
    }

    public CoapMessage Request(byte code, string path, CoapType type = CoapType.Confirmable, params CoapOption[] options)
    {
        var message = new CoapMessage { Type = type, Code = code, MessageId = NextMessageId(), Token = BitConverter.GetBytes(Random.Shared.NextInt64()) };
        foreach (var segment in path.Split('?')[0].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            message.Add(CoapOption.FromString(CoapOptionNumbers.UriPath, Uri.UnescapeDataString(segment)));
        }

        if (path.Contains('?'))
        {
            foreach (var pair in path.Split('?', 2)[1].Split('&'))
            {
                message.Add(CoapOption.FromString(CoapOptionNumbers.UriQuery, Uri.UnescapeDataString(pair)));
            }
        }

        foreach (var option in options)
        {
            message.Add(option);
        }

        return message;
    }

    public void Dispose() => _udp.Dispose();
}

/// <summary>libcoap's command-line client (Debian libcoap3-bin), an independent CoAP implementation.</summary>
public static class LibCoap
{
    public static async Task<(int ExitCode, byte[] Output, string Stderr)> RunAsync(string client, params string[] args)
    {
        var output = Path.Combine(Path.GetTempPath(), "mp-coap-" + Guid.NewGuid().ToString("N"));
        var info = new ProcessStartInfo(client) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.ArgumentList.Add("-o");
        info.ArgumentList.Add(output);
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{client} could not be started (apt-get install libcoap3-bin)");
        var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{client} did not finish: {await stderr}");
        }

        await stdout;
        var bytes = File.Exists(output) ? await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken) : [];
        File.Delete(output);
        return (process.ExitCode, bytes, await stderr);
    }
}
