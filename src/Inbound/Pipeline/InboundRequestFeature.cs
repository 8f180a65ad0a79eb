using MessengerProxy.Federation;
using MessengerProxy.Pipeline;
using MessengerProxy.Pipeline.Http;
using MessengerProxy.Policy;
using MessengerProxy.Policy.Endpoints;
using MessengerProxy.Policy.Federation;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>What the pipeline learned about a request; stored in <c>HttpContext.Features</c>.</summary>
internal sealed class InboundRequestFeature : IProxyRequest
{
    private XMatrixAuthorization? _xMatrix;
    private MatrixError? _xMatrixError;

    internal InboundRequestFeature(RequestTarget target, EndpointDescriptor endpoint, bool isPreflight)
    {
        Target = target;
        Endpoint = endpoint;
        IsPreflight = isPreflight;
    }

    /// <summary>The raw request target, forwarded unchanged.</summary>
    public RequestTarget Target { get; }

    /// <summary>The allowlist entry the request matched.</summary>
    public EndpointDescriptor Endpoint { get; }

    /// <summary>An OPTIONS (CORS preflight) request; policies about bodies and credentials do not apply.</summary>
    public bool IsPreflight { get; }

    /// <summary>The body, when the request-body stage has read it (every endpoint but media uploads).</summary>
    internal BufferedRequestBody? Body { get; set; }

    public RequestOutcome Outcome { get; set; } = RequestOutcome.Forwarded;

    public string LogEndpoint => Endpoint.Template.Text;

    // A preflight is the browser asking, not the operation itself.
    public RawDataReport? RawData => IsPreflight ? null : Endpoint.Traits.InboundRawData;

    public IReadOnlyList<string> Invitees() => RawDataInvitees.Of(this);

    /// <summary>An answer a stage gave in place of the homeserver's; written once every stage has passed.</summary>
    internal LocalAnswer? Answer { get; set; }

    /// <summary>The TIM rule behind the refusal a policy returned, so that it is logged and counted by name.</summary>
    internal TimRule? RefusedBy { get; set; }

    /// <summary>
    /// The request's <c>Authorization: X-Matrix</c> header (<see cref="FederationErrors.ReadXMatrix"/>), parsed once
    /// for the stages that use it (origin, signature); null with the 401 to answer when it is missing or malformed.
    /// </summary>
    internal MatrixError? ReadXMatrix(HttpContext context, out XMatrixAuthorization authorization)
    {
        if (_xMatrix is null && _xMatrixError is null)
        {
            _xMatrixError = FederationErrors.ReadXMatrix(context.Request.Headers[HeaderNames.Authorization], out var parsed);
            _xMatrix = parsed;
        }

        authorization = _xMatrix!;
        return _xMatrixError;
    }
}
