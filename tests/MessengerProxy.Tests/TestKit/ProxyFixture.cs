namespace MessengerProxy.Tests.TestKit;

/// <summary>A stand-in homeserver and a proxy in front of it, shared by the tests of one class.</summary>
public class ProxyFixture : IAsyncLifetime
{
    public RecordingUpstream Upstream { get; private set; } = null!;

    public ProxyHost Proxy { get; private set; } = null!;

    /// <summary>Settings of the proxy; runs after <see cref="PrepareAsync"/>.</summary>
    protected virtual string[] Settings => [];

    public async ValueTask InitializeAsync()
    {
        Upstream = await RecordingUpstream.StartAsync();
        await PrepareAsync();
        Proxy = await ProxyHost.StartAsync(Upstream.BaseUri.ToString().TrimEnd('/'), Settings);
    }

    public virtual async ValueTask DisposeAsync()
    {
        await Proxy.DisposeAsync();
        await Upstream.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>Starts whatever else the proxy needs (e.g. a registration service).</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>A proxy that enforces the federation list, fed by a stand-in registration service listing <c>ex.org</c> and <c>example.org</c>.</summary>
    public sealed class Federated : ProxyFixture
    {
        public const string OwnServerName = "matrix.example.org";

        public FakeRegistrationService Registration { get; private set; } = null!;

        protected override string[] Settings =>
        [
            $"Federation:RegistrationServiceUrl={Registration.Url}",
            $"Federation:ServerName={OwnServerName}",
            // Invite permissions need an admin API; InvitePermissionTests has a stand-in homeserver with one.
            "Tim:InviteCheck=Client",
        ];

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync();
            await Registration.DisposeAsync();
        }

        protected override async Task PrepareAsync() => Registration = await FakeRegistrationService.StartAsync("ex.org", "example.org");
    }

    /// <summary>Sends raw request text carrying a fresh test id; returns the id and the response.</summary>
    public async Task<(string TestId, RawResponse Response)> SendAsync(string method, string target, string extraHeaders = "", string body = "")
    {
        var id = Guid.NewGuid().ToString("N");
        var response = await RawHttp.SendAsync(Proxy.InboundPort, RawHttp.Request(method, target, $"{RecordingUpstream.TestIdHeader}: {id}\r\n{extraHeaders}", body));
        return (id, response);
    }
}
