using MessengerProxy.Policy.Endpoints;

namespace MessengerProxy.Tests.Policy;

public sealed class LogPathTests
{
    private static readonly LogPath s_logPath = new(EndpointTable.LoadMatrixV111());

    [Theory]
    [InlineData("/_matrix/federation/v1/make_join/!room:example.org/@alice:example.org", "/_matrix/federation/v1/make_join/*/*")]
    [InlineData("/_matrix/federation/v1/make_join/{roomId}/{userId}", "/_matrix/federation/v1/make_join/*/*")]
    [InlineData("/_matrix/client/v3/rooms/%21r%3Aexample.org/state/m.room.member/%40bob%3Aexample.org", "/_matrix/client/v3/rooms/*/state/*/*")]
    [InlineData("/_matrix/client/r0/profile/@alice:example.org", "/_matrix/client/r0/profile/*")]
    [InlineData("/@alice:example.org/x", "/*/x")]
    [InlineData("/_matrix/media/v3/download/example.org/abcdef?access_token=secret", "/_matrix/media/v3/download/*/*")]
    [InlineData("//", "//")]
    [InlineData("not-a-path", "(malformed)")]
    public void Mask_KeepsOnlyTableLiteralsAndNamespaces(string path, string logged) =>
        Assert.Equal(logged, s_logPath.Mask(path));
}
