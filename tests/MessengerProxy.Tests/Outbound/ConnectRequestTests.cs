using System.Buffers;
using System.Text;
using MessengerProxy.Outbound.Tunnels;

namespace MessengerProxy.Tests.Outbound;

public sealed class ConnectRequestTests
{
    [Theory]
    [InlineData("CONNECT remote.example:443 HTTP/1.1\r\nHost: remote.example:443\r\n\r\n", "remote.example", 443)]
    [InlineData("CONNECT remote.example:8448 HTTP/1.0\r\n\r\n", "remote.example", 8448)]
    [InlineData("CONNECT Remote.EXAMPLE:443 HTTP/1.1\r\n\r\n", "remote.example", 443)]
    [InlineData("CONNECT [::1]:8448 HTTP/1.1\r\nHost: [::1]:8448\r\n\r\n", "::1", 8448)]
    [InlineData("CONNECT [2001:DB8::1]:443 HTTP/1.1\r\n\r\n", "2001:db8::1", 443)]
    [InlineData("CONNECT 192.0.2.7:65535 HTTP/1.1\r\n\r\n", "192.0.2.7", 65535)]
    [InlineData("CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\nProxy-Connection: keep-alive\r\nUser-Agent: Synapse/1.0\r\n\r\n", "h", 1)]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nX-Tab: a\tb\r\nX-Empty:\r\nX-Obs-Text: caf\u00e9\r\n\r\n", "h", 443)]
    public void Parse_ValidHead_ReturnsHostWithoutBracketsAndPort(string head, string host, int port)
    {
        var error = ConnectRequest.Parse(Latin1(head), out var parsedHost, out var parsedPort);

        Assert.Equal(ConnectParseError.None, error);
        Assert.Equal(host, parsedHost);
        Assert.Equal(port, parsedPort);
    }

    [Theory]
    // Request line.
    [InlineData("connect h:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("GET h:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT  h:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443  HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443 GARBAGE\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443 HTTP/1.1 extra\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443 http/1.1\r\n\r\n", nameof(ConnectParseError.MalformedRequestLine))]
    [InlineData("CONNECT h:443 HTTP/2.0\r\n\r\n", nameof(ConnectParseError.UnsupportedVersion))]
    [InlineData("CONNECT h:443 HTTP/0.9\r\n\r\n", nameof(ConnectParseError.UnsupportedVersion))]
    // Authority.
    [InlineData("CONNECT h HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h: HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:0 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:65536 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:70000 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:443443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:44x HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:+443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h:-1 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT :443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT user@h:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT user:pw@h:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h/x:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT h..x:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT ::1:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT [::1] HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT [::1]:0 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT [1.2.3.4]:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT [h]:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    [InlineData("CONNECT caf\u00e9:443 HTTP/1.1\r\n\r\n", nameof(ConnectParseError.MalformedAuthority))]
    // Headers.
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost h\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\n: x\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHo st: h\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost : h\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHo(st: h\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: a\u0001b\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: a\u007fb\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: a\nEvil: b\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: a\rEvil: b\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\tX: folded\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\nBad\r\n\r\n", nameof(ConnectParseError.MalformedHeader))]
    public void Parse_MalformedHead_IsRefusedWithReason(string head, string reason)
    {
        // The enum is internal, so the data carries its name.
        var expected = Enum.Parse<ConnectParseError>(reason);

        var error = ConnectRequest.Parse(Latin1(head), out var host, out _);

        Assert.Equal(expected, error);
        if (expected != ConnectParseError.MalformedHeader)
        {
            Assert.Equal(string.Empty, host);
        }
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("C", true)]
    [InlineData("CON", true)]
    [InlineData("CONNECT", true)]
    [InlineData("CONNECT ", true)]
    [InlineData("CONNECT remote.example:443 HTTP/1.1\r\n", true)]
    [InlineData("GET ", false)]
    [InlineData("G", false)]
    [InlineData("connect ", false)]
    [InlineData("CONNECTX", false)]
    [InlineData("CONNECT\t", false)]
    [InlineData(" CONNECT", false)]
    public void MayBeConnect_Prefix_TellsWhetherACONNECTIsStillPossible(string bytes, bool expected)
    {
        Assert.Equal(expected, ConnectRequest.MayBeConnect(new ReadOnlySequence<byte>(Latin1(bytes))));
    }

    [Fact]
    public void MayBeConnect_MultiSegmentSequence_ComparesAcrossSegments()
    {
        Assert.True(ConnectRequest.MayBeConnect(Segmented("CO", "NN", "ECT h:443")));
        Assert.False(ConnectRequest.MayBeConnect(Segmented("CO", "NX", "ECT h:443")));
    }

    [Theory]
    [InlineData("")]
    [InlineData("CONNECT h:443 HTTP/1.1")]
    [InlineData("CONNECT h:443 HTTP/1.1\r\n")]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n")]
    [InlineData("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r")]
    [InlineData("CONNECT h:443 HTTP/1.1\n\n")]
    public void FindHeadEnd_IncompleteHead_ReturnsNull(string bytes)
    {
        Assert.Null(ConnectRequest.FindHeadEnd(new ReadOnlySequence<byte>(Latin1(bytes))));
    }

    [Fact]
    public void FindHeadEnd_CompleteHeadFollowedByTunnelBytes_EndsAfterTheBlankLine()
    {
        const string head = "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n";
        var buffer = new ReadOnlySequence<byte>(Latin1(head + "\u0016\u0003\u0001TLS"));

        var end = ConnectRequest.FindHeadEnd(buffer);

        Assert.NotNull(end);
        Assert.Equal(head.Length, buffer.Slice(0, end.Value).Length);
    }

    [Fact]
    public void FindHeadEnd_HeadSplitAcrossSegments_FindsTheEnd()
    {
        // The terminating CRLFCRLF itself is split over three segments.
        var buffer = Segmented("CONNECT h:4", "43 HTTP/1.1\r\nHost: h\r", "\n\r", "\nrest");

        var end = ConnectRequest.FindHeadEnd(buffer);

        Assert.NotNull(end);
        var head = buffer.Slice(0, end.Value);
        Assert.Equal("CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", Encoding.Latin1.GetString(head.ToArray()));
        Assert.Equal("rest", Encoding.Latin1.GetString(buffer.Slice(end.Value).ToArray()));
        Assert.Equal(ConnectParseError.None, ConnectRequest.Parse(head.ToArray(), out var host, out var port));
        Assert.Equal(("h", 443), (host, port));
    }

    [Fact]
    public void FindHeadEnd_SegmentedIncompleteHead_ReturnsNull()
    {
        Assert.Null(ConnectRequest.FindHeadEnd(Segmented("CONNECT h:443 HTTP/1.1\r", "\n", "Host: h\r\n", "\r")));
    }

    private static byte[] Latin1(string text) => Encoding.Latin1.GetBytes(text);

    private static ReadOnlySequence<byte> Segmented(params string[] parts)
    {
        var first = new Segment(Latin1(parts[0]), 0);
        var last = first;
        foreach (var part in parts.Skip(1))
        {
            last = last.Append(Latin1(part));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, long runningIndex)
        {
            Memory = bytes;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
