using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Diagnostics;
using MessengerProxy.Pipeline.Forwarding;
using MessengerProxy.Pipeline.Http;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Tests.Pipeline;

/// <summary>The one forwarder-error mapping of both proxies (moved here from the outbound handler's tests, assertions kept).</summary>
public sealed class ForwarderErrorsTests
{
    [Theory]
    [InlineData(ForwarderError.RequestCanceled, "client_aborted", 0)]
    [InlineData(ForwarderError.RequestBodyCanceled, "client_aborted", 0)]
    [InlineData(ForwarderError.ResponseBodyCanceled, "client_aborted", 0)]
    [InlineData(ForwarderError.ResponseBodyClient, "client_aborted", 0)]
    [InlineData(ForwarderError.UpgradeRequestCanceled, "client_aborted", 0)]
    [InlineData(ForwarderError.UpgradeResponseCanceled, "client_aborted", 0)]
    [InlineData(ForwarderError.UpgradeRequestClient, "client_aborted", 0)]
    [InlineData(ForwarderError.RequestBodyClient, "refused", 400)]
    [InlineData(ForwarderError.RequestCreation, "refused", 400)]
    [InlineData(ForwarderError.Request, "upstream_error", 502)]
    [InlineData(ForwarderError.ResponseHeaders, "upstream_error", 502)]
    [InlineData(ForwarderError.RequestBodyDestination, "upstream_error", 502)]
    [InlineData(ForwarderError.ResponseBodyDestination, "upstream_error", 502)]
    [InlineData(ForwarderError.UpgradeRequestDestination, "upstream_error", 502)]
    [InlineData(ForwarderError.UpgradeResponseDestination, "upstream_error", 502)]
    [InlineData(ForwarderError.UpgradeResponseClient, "upstream_error", 502)]
    [InlineData(ForwarderError.NoAvailableDestinations, "upstream_error", 502)]
    [InlineData(ForwarderError.RequestTimedOut, "upstream_error", 504)]
    [InlineData(ForwarderError.UpgradeActivityTimeout, "upstream_error", 504)]
    public void MapForwarderError_CountsTheSideAtFault(ForwarderError error, string outcome, int status)
    {
        var failure = ForwarderErrors.Map(error, exception: null, Upstream.Host("remote.test"));

        Assert.Equal(outcome, RequestMetrics.Label(PipelineDirection.Outbound, failure.Outcome));
        Assert.Equal(status, failure.Answer?.StatusCode ?? 0);
    }

    [Fact]
    public void MapForwarderError_EveryForwarderErrorIsCovered()
    {
        // A forwarder error added by a YARP upgrade must be decided here, not fall silently into a default.
        var covered = typeof(ForwarderErrorsTests).GetMethod(nameof(MapForwarderError_CountsTheSideAtFault))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>().Select(a => (ForwarderError)a.Data[0]!);

        Assert.Equal(Enum.GetValues<ForwarderError>().Where(e => e != ForwarderError.None).Order(), covered.Order());
    }

    [Fact]
    public void MapForwarderError_RemoteSwitchedProtocols_502AndClose()
    {
        var failure = ForwarderErrors.Map(ForwarderError.Request, new HttpRequestException("x", new RemoteSwitchedProtocolsException("remote.test")), Upstream.Host("remote.test"));

        Assert.Equal("upstream_error", RequestMetrics.Label(PipelineDirection.Outbound, failure.Outcome));
        Assert.Equal(502, failure.Answer!.StatusCode);
        Assert.Contains("switched protocols", failure.Answer.Message);
        Assert.True(failure.CloseConnection);
    }
}
