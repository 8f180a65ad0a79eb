using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>The inbound allowlist: the Matrix v1.11 table with the operator's additions and denials applied, and the TIM rulebook in its traits.</summary>
public sealed class InboundEndpoints
{
    public InboundEndpoints(IOptions<InboundOptions> options, TimRulebook tim)
    {
        var errors = new List<string>();
        var table = TryBuildTable(options.Value, errors)?.WithTim(tim)
            ?? throw new OptionsValidationException(InboundOptions.SectionName, typeof(InboundOptions), errors);
        Matcher = new EndpointMatcher(table);
        LogPath = new LogPath(table);
    }

    public EndpointMatcher Matcher { get; }

    /// <summary>How refused paths are written to the log without the identifiers they may hold.</summary>
    public LogPath LogPath { get; }

    /// <summary>Builds the table from the settings; null with the reasons in <paramref name="errors"/> when they are wrong.</summary>
    internal static EndpointTable? TryBuildTable(InboundOptions settings, List<string> errors)
    {
        var before = errors.Count;
        var extras = EndpointRule.ParseAll(errors, $"{InboundOptions.SectionName}:ExtraEndpoints", settings.ExtraEndpoints, allowCatchAll: true);
        var denials = EndpointRule.ParseAll(errors, $"{InboundOptions.SectionName}:DeniedEndpoints", settings.DeniedEndpoints, allowCatchAll: false);
        if (errors.Count > before)
        {
            return null;
        }

        try
        {
            return EndpointTable.LoadMatrixV111().WithOperatorRules(extras, denials);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{InboundOptions.SectionName}: {ex.Message}");
            return null;
        }
    }
}
