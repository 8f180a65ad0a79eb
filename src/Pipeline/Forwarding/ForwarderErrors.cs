using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using Yarp.ReverseProxy.Forwarder;

namespace MessengerProxy.Pipeline.Forwarding;

/// <summary>Who is on the other side of the forwarder, as answers and logs name it.</summary>
/// <param name="Name">In a sentence (<c>the homeserver</c>, <c>remote.example</c>).</param>
/// <param name="Subject">At the start of a sentence (<c>The homeserver</c>, <c>remote.example</c>).</param>
/// <param name="CloseAfterProtocolSwitch">
/// Whether the client's connection ends when the upstream switched protocols anyway. Inbound it stays: the
/// client's upgrade headers were removed, so its connection still carries checked HTTP. Outbound a tunnel
/// whose remote misbehaves is not trusted with another request.
/// </param>
internal readonly record struct Upstream(string Name, string Subject, bool CloseAfterProtocolSwitch)
{
    public static readonly Upstream Homeserver = new("the homeserver", "The homeserver", CloseAfterProtocolSwitch: false);

    public static Upstream Host(string host) => new(host, host, CloseAfterProtocolSwitch: true);
}

/// <summary>How a forwarding failure is counted (the metric's outcome) and answered (null: not at all).</summary>
internal readonly record struct ForwardingFailure(RequestOutcome Outcome, MatrixError? Answer, bool CloseConnection = false);

/// <summary>The one mapping from YARP's <see cref="ForwarderError"/> to whose fault a failure is and what the client hears.</summary>
internal static class ForwarderErrors
{
    /// <summary>
    /// The client's fault (<see cref="RequestOutcome.Refused"/>, 4xx), nobody's to answer (<see cref="RequestOutcome.ClientAborted"/>:
    /// the client went away), or the upstream's (<see cref="RequestOutcome.UpstreamError"/>, 502/504).
    /// </summary>
    public static ForwardingFailure Map(ForwarderError error, Exception? exception, Upstream upstream) => error switch
    {
        ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled or ForwarderError.ResponseBodyCanceled or ForwarderError.ResponseBodyClient
            or ForwarderError.UpgradeRequestCanceled or ForwarderError.UpgradeResponseCanceled or ForwarderError.UpgradeRequestClient => new(RequestOutcome.ClientAborted, null),
        ForwarderError.RequestBodyClient => ExceptionChains.IsBodyTooLarge(exception)
            ? new(RequestOutcome.Refused, new MatrixError(413, MatrixErrorCode.TooLarge, "Request body is larger than the limit"), CloseConnection: true)
            : new(RequestOutcome.Refused, new MatrixError(400, MatrixErrorCode.Unknown, "The request body could not be read")),

        // Building the outgoing request from what the client sent failed: something in it cannot be sent.
        ForwarderError.RequestCreation => new(RequestOutcome.Refused, new MatrixError(400, MatrixErrorCode.Unknown, "The request cannot be forwarded as sent")),
        ForwarderError.RequestTimedOut or ForwarderError.UpgradeActivityTimeout => new(RequestOutcome.UpstreamError, new MatrixError(504, MatrixErrorCode.Unknown, $"{upstream.Subject} did not answer in time")),

        // No upgrade is ever forwarded, so an upgraded connection can only come from an upstream that switched anyway.
        ForwarderError.UpgradeRequestDestination or ForwarderError.UpgradeResponseDestination or ForwarderError.UpgradeResponseClient => SwitchedProtocols(upstream),
        _ when ExceptionChains.Find<RemoteSwitchedProtocolsException>(exception) is not null => SwitchedProtocols(upstream),
        _ => new(RequestOutcome.UpstreamError, new MatrixError(502, MatrixErrorCode.Unknown, IsCertificateFailure(exception)
            ? $"The certificate of {upstream.Name} is not trusted"
            : $"{upstream.Subject} is unreachable or sent an invalid response")),
    };

    private static ForwardingFailure SwitchedProtocols(Upstream upstream) =>
        new(RequestOutcome.UpstreamError, new MatrixError(502, MatrixErrorCode.Unknown, $"{upstream.Subject} switched protocols; Matrix has no protocol upgrades"),
            CloseConnection: upstream.CloseAfterProtocolSwitch);

    private static bool IsCertificateFailure(Exception? exception) =>
        ExceptionChains.Find<System.Security.Authentication.AuthenticationException>(exception) is not null
        || ExceptionChains.Find<HttpRequestException>(exception) is { HttpRequestError: HttpRequestError.SecureConnectionError };
}
