using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using MessengerProxy.Outbound.Tunnels;
using MessengerProxy.Policy;

namespace MessengerProxy.Tests.Outbound;

/// <summary>The proxy's own HTTP/1.1 answers on a raw connection, before a tunnel exists.</summary>
public sealed class ProxyErrorResponseTests
{
    [Theory]
    [InlineData(403, "Forbidden")]
    [InlineData(407, "Proxy Authentication Required")]
    [InlineData(421, "Misdirected Request")]
    [InlineData(429, "Too Many Requests")]
    [InlineData(500, "Internal Server Error")]
    public async Task Error_StatusLineCarriesTheStandardReasonPhrase(int status, string reason)
    {
        var text = await WriteAsync(new MatrixError(status, MatrixErrorCode.Forbidden, "no"));

        Assert.StartsWith($"HTTP/1.1 {status} {reason}\r\n", text);
    }

    [Fact]
    public async Task Error_IsAMatrixErrorThatClosesTheConnection()
    {
        var text = await WriteAsync(new MatrixError(403, MatrixErrorCode.Forbidden, "remote.test is not part of the federation"));

        const string Body = "{\"errcode\":\"M_FORBIDDEN\",\"error\":\"remote.test is not part of the federation\"}";
        Assert.Equal(
            "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: " + Body.Length + "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + Body,
            text);
    }

    private static async Task<string> WriteAsync(MatrixError error)
    {
        var pipe = new Pipe();
        await ProxyErrorResponse.WriteAsync(pipe.Writer, error, TestContext.Current.CancellationToken);
        await pipe.Writer.CompleteAsync();
        var result = await pipe.Reader.ReadAtLeastAsync(int.MaxValue, TestContext.Current.CancellationToken);
        return Encoding.ASCII.GetString(result.Buffer.ToArray());
    }
}
