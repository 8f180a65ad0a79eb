namespace MessengerProxy.Tests.TestKit;

/// <summary>A stand-in homeserver and a proxy in front of it, shared by the tests of one class.</summary>
public class ProxyFixture : IAsyncLifetime
{
    public RecordingUpstream Upstream { get; private set; } = null!;

    public ProxyHost Proxy { get; private set; } = null!;

    protected virtual string[] Settings => [];

    public async ValueTask InitializeAsync()
    {
        Upstream = await RecordingUpstream.StartAsync();
        Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'), Settings);
    }

    public async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Sends raw request text carrying a fresh test id; returns the id and the response.</summary>
    public async Task<(string TestId, RawResponse Response)> SendAsync(string method, string target, string extraHeaders = "", string body = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(Proxy.InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{extraHeaders}", body));
        return (id, response);
    }
}
