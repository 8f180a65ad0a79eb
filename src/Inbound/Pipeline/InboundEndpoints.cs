using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>The inbound allowlist: the Matrix v1.11 table with the operator's additions and denials applied.</summary>
public sealed class InboundEndpoints
{
    public InboundEndpoints(IOptions<InboundOptions> options)
    {
        var settings = options.Value;
        var errors = new List<string>();
        var extras = InboundOptionsValidator.ParseRules(errors, "Inbound:ExtraEndpoints", settings.ExtraEndpoints, allowCatchAll: true);
        var denials = InboundOptionsValidator.ParseRules(errors, "Inbound:DeniedEndpoints", settings.DeniedEndpoints, allowCatchAll: false);
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(InboundOptions.SectionName, typeof(InboundOptions), errors);
        }

        Table = EndpointTable.LoadMatrixV111().WithOperatorRules(extras, denials);
        Matcher = new EndpointMatcher(Table);
    }

    public EndpointTable Table { get; }

    public EndpointMatcher Matcher { get; }
}
