using System.IO.Compression;
using System.Text;
using System.Text.Json;
using MessengerProxy.Tests.TestKit;
using Microsoft.AspNetCore.Http;

namespace MessengerProxy.Tests.Inbound;

public sealed class VersionsTests : IAsyncLifetime
{
    private const string UpstreamVersions =
        """{"versions":["r0.0.1","r0.5.0","r0.6.1","v1.1","v1.10","v1.11","v1.12","v1.13","v1.16"],"unstable_features":{"org.matrix.msc3575":true,"org.matrix.msc2965":true,"org.matrix.e2e_cross_signing":true},"server":{"name":"Synapse"}}""";

    private RecordingUpstream _upstream = null!;
    private ProxyHost _proxy = null!;

    public async ValueTask InitializeAsync()
    {
        _upstream = await RecordingUpstream.StartAsync();
        _upstream.Respond = async (context, request) =>
        {
            context.Response.ContentType = "application/json";
            var body = Encoding.UTF8.GetBytes(UpstreamVersions);
            if (request.RawTarget.Contains("gzip=1", StringComparison.Ordinal))
            {
                using var compressed = new MemoryStream();
                using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
                {
                    gzip.Write(body);
                }

                context.Response.Headers.ContentEncoding = "gzip";
                body = compressed.ToArray();
            }
            else if (request.RawTarget.Contains("broken=1", StringComparison.Ordinal))
            {
                body = "<html>Bad gateway</html>"u8.ToArray();
            }

            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        };
        _proxy = await ProxyHost.StartAsync(_upstream.BaseUri.ToString().TrimEnd('/'), "Inbound:AllowedUnstableFeatures:0=org.matrix.e2e_cross_signing");
    }

    public async ValueTask DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [InlineData("/_matrix/client/versions")]
    [InlineData("/_matrix/client/versions?")]
    [InlineData("/_matrix/client/versions?foo=bar")]
    [InlineData("/_matrix/client/versions?gzip=1")]
    public async Task Versions_AreCappedAtV111_WhateverTheQuery(string target)
    {
        var response = await RawHttp.SendAsync(_proxy.InboundPort, RawHttp.Request("GET", target, "Accept-Encoding: gzip, br\r\n"));

        Assert.Equal(200, response.StatusCode);
        Assert.Null(response.Header("Content-Encoding"));
        using var body = JsonDocument.Parse(response.Body);
        Assert.Equal(["r0.0.1", "r0.5.0", "r0.6.1", "v1.1", "v1.10", "v1.11"], body.RootElement.GetProperty("versions").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["org.matrix.e2e_cross_signing"], body.RootElement.GetProperty("unstable_features").EnumerateObject().Select(p => p.Name));
        Assert.Equal("Synapse", body.RootElement.GetProperty("server").GetProperty("name").GetString());
        Assert.Equal(response.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), response.Header("Content-Length"));

        // The homeserver was asked for an uncompressed body.
        Assert.Null(_upstream.Requests.Last(r => r.RawTarget == target).Header("Accept-Encoding"));
    }

    [Fact]
    public async Task Versions_UnparsableHomeserverAnswer_Is502()
    {
        var response = await RawHttp.SendAsync(_proxy.InboundPort, RawHttp.Request("GET", "/_matrix/client/versions?broken=1"));
        RejectionTests.AssertMatrixError(response, 502, "M_UNKNOWN");
    }

    [Fact]
    public async Task Versions_Head_IsForwardedWithoutBody()
    {
        var response = await RawHttp.SendAsync(_proxy.InboundPort, RawHttp.Request("HEAD", "/_matrix/client/versions"), headRequest: true);
        Assert.Equal(200, response.StatusCode);
        Assert.Empty(response.Body);
    }
}
