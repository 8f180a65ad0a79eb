using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Outbound.Forwarding;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Tests.Outbound;

public sealed class OutboundEndpointsTests
{
    [Theory]
    [InlineData("PUT", "/_matrix/federation/v1/send/txn1")]
    [InlineData("GET", "/_matrix/federation/v1/version")]
    [InlineData("GET", "/_matrix/federation/v1/make_join/!r:ex.org/@u:ex.org")]
    [InlineData("PUT", "/_matrix/federation/v2/send_join/!r:ex.org/$e")]
    [InlineData("GET", "/_matrix/federation/v1/media/download/abc")]
    [InlineData("GET", "/_matrix/key/v2/server")]
    [InlineData("POST", "/_matrix/key/v2/query")]
    [InlineData("GET", "/.well-known/matrix/server")]
    [InlineData("HEAD", "/_matrix/federation/v1/version")]
    public void TryBuild_Defaults_ContainsServerServerEndpoints(string method, string path)
    {
        var matcher = Build(new OutboundOptions());

        Assert.Equal(EndpointMatchStatus.Matched, matcher.Match(method, path).Status);
    }

    [Theory]
    [InlineData("GET", "/_matrix/client/v3/sync")]
    [InlineData("GET", "/_matrix/client/versions")]
    [InlineData("PUT", "/_matrix/client/v3/rooms/!r:ex.org/send/m.room.message/t1")]
    [InlineData("GET", "/.well-known/matrix/client")]
    [InlineData("GET", "/_matrix/media/v3/config")]
    [InlineData("POST", "/_matrix/media/v3/upload")]
    [InlineData("GET", "/_matrix/client/v1/media/download/ex.org/abc")]
    [InlineData("GET", "/_synapse/admin/v1/users")]
    public void TryBuild_Defaults_LacksClientServerEndpoints(string method, string path)
    {
        var matcher = Build(new OutboundOptions());

        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match(method, path).Status);
    }

    [Theory]
    [InlineData("/_matrix/media/v3/download/ex.org/abc")]
    [InlineData("/_matrix/media/v3/download/ex.org/abc/file.png")]
    [InlineData("/_matrix/media/v3/thumbnail/ex.org/abc")]
    public void TryBuild_LegacyMedia_PresentOnlyWhenAllowed(string path)
    {
        var allowed = Build(new OutboundOptions { AllowLegacyMedia = true });
        var refused = Build(new OutboundOptions { AllowLegacyMedia = false });

        Assert.Equal(EndpointMatchStatus.Matched, allowed.Match("GET", path).Status);
        Assert.Equal(EndpointMatchStatus.NotFound, refused.Match("GET", path).Status);
    }

    [Fact]
    public void TryBuild_LegacyMediaAllowed_DoesNotAllowUpload()
    {
        var matcher = Build(new OutboundOptions { AllowLegacyMedia = true });

        Assert.NotEqual(EndpointMatchStatus.Matched, matcher.Match("PUT", "/_matrix/media/v3/upload/ex.org/abc").Status);
    }

    [Fact]
    public void TryBuild_DeniedMethod_RemovesOnlyThatMethod()
    {
        var matcher = Build(new OutboundOptions { DeniedEndpoints = ["GET /_matrix/federation/v1/publicRooms"] });

        Assert.Equal(EndpointMatchStatus.MethodNotAllowed, matcher.Match("GET", "/_matrix/federation/v1/publicRooms").Status);
        Assert.Equal(EndpointMatchStatus.Matched, matcher.Match("POST", "/_matrix/federation/v1/publicRooms").Status);
    }

    [Fact]
    public void TryBuild_DeniedEveryMethod_RemovesThePath()
    {
        var matcher = Build(new OutboundOptions { DeniedEndpoints = ["* /_matrix/federation/v1/publicRooms"] });

        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("GET", "/_matrix/federation/v1/publicRooms").Status);
        Assert.Equal(EndpointMatchStatus.NotFound, matcher.Match("POST", "/_matrix/federation/v1/publicRooms").Status);
        Assert.Equal(EndpointMatchStatus.Matched, matcher.Match("PUT", "/_matrix/federation/v1/send/txn1").Status);
    }

    [Fact]
    public void TryBuild_ExtraEndpoint_IsAdded()
    {
        var without = Build(new OutboundOptions());
        var with = Build(new OutboundOptions { ExtraEndpoints = ["GET,PUT /_matrix/federation/unstable/{*path}"] });

        Assert.Equal(EndpointMatchStatus.NotFound, without.Match("GET", "/_matrix/federation/unstable/org.matrix.msc1234/x").Status);
        Assert.Equal(EndpointMatchStatus.Matched, with.Match("GET", "/_matrix/federation/unstable/org.matrix.msc1234/x").Status);
        Assert.Equal(EndpointMatchStatus.Matched, with.Match("PUT", "/_matrix/federation/unstable/org.matrix.msc1234/x").Status);
        Assert.Equal(EndpointMatchStatus.MethodNotAllowed, with.Match("POST", "/_matrix/federation/unstable/org.matrix.msc1234/x").Status);
    }

    [Fact]
    public void TryBuild_DenialMatchingNothing_FailsWithReason()
    {
        var errors = new List<string>();

        var table = OutboundEndpointsBuilder.TryBuild(new OutboundOptions { DeniedEndpoints = ["GET /_matrix/client/v3/sync"] }, errors);

        Assert.Null(table);
        Assert.Contains("matches no endpoint", Assert.Single(errors));
    }

    [Fact]
    public void TryBuild_ExtraEndpointWithoutMethods_FailsWithReason()
    {
        var errors = new List<string>();

        var table = OutboundEndpointsBuilder.TryBuild(new OutboundOptions { ExtraEndpoints = ["* /_matrix/federation/unstable/{*path}"] }, errors);

        Assert.Null(table);
        Assert.Contains("must name its methods", Assert.Single(errors));
    }

    [Fact]
    public void Constructor_BadSettings_ThrowsOptionsValidationException()
    {
        var options = Options.Create(new OutboundOptions { DeniedEndpoints = ["GET"] });

        var ex = Assert.Throws<OptionsValidationException>(() => new OutboundEndpoints(options));

        Assert.Contains(ex.Failures, f => f.StartsWith("Outbound:DeniedEndpoints:0", StringComparison.Ordinal));
    }

    private static EndpointMatcher Build(OutboundOptions options)
    {
        var errors = new List<string>();
        var table = OutboundEndpointsBuilder.TryBuild(options, errors);
        Assert.Empty(errors);
        Assert.NotNull(table);
        Assert.DoesNotContain(table.Endpoints, e => e.Api == MatrixApi.ClientServer && !e.Traits.LegacyMedia);
        return new EndpointMatcher(table);
    }
}
