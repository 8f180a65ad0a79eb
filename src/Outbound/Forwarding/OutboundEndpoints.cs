using MessengerProxy.Outbound.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Outbound.Forwarding;

/// <summary>
/// What the homeserver may ask of a federation peer: the server-server half of the Matrix v1.11 table,
/// the pre-v1.11 unauthenticated media download if enabled, plus the operator's additions, minus denials.
/// </summary>
internal sealed class OutboundEndpoints
{
    public OutboundEndpoints(IOptions<OutboundOptions> options)
    {
        var errors = new List<string>();
        var table = OutboundEndpointsBuilder.TryBuild(options.Value, errors)
            ?? throw new OptionsValidationException(OutboundOptions.SectionName, typeof(OutboundOptions), errors);
        Matcher = new EndpointMatcher(table);
        LogPath = new LogPath(table);
    }

    public EndpointMatcher Matcher { get; }

    /// <summary>How refused paths are logged without the user and room IDs they may hold.</summary>
    public LogPath LogPath { get; }
}

internal static class OutboundEndpointsBuilder
{
    // Synapse falls back to these for peers without authenticated media; the spec keeps them (deprecated).
    private static readonly string[] s_legacyMediaPrefixes = ["/_matrix/media/v3/download/", "/_matrix/media/v3/thumbnail/"];

    /// <summary>Null with the reasons in <paramref name="errors"/> when the settings are wrong.</summary>
    public static EndpointTable? TryBuild(OutboundOptions settings, List<string> errors)
    {
        var before = errors.Count;
        var extras = EndpointRule.ParseAll(errors, $"{OutboundOptions.SectionName}:ExtraEndpoints", settings.ExtraEndpoints, allowCatchAll: true);
        var denials = EndpointRule.ParseAll(errors, $"{OutboundOptions.SectionName}:DeniedEndpoints", settings.DeniedEndpoints, allowCatchAll: false);
        if (errors.Count > before)
        {
            return null;
        }

        try
        {
            return EndpointTable.LoadMatrixV111()
                .Where(e => e.Api == MatrixApi.ServerServer || (settings.AllowLegacyMedia && IsLegacyMedia(e)))
                .WithOperatorRules(extras, denials);
        }
        catch (ArgumentException ex)
        {
            errors.Add($"{OutboundOptions.SectionName}: {ex.Message}");
            return null;
        }
    }

    public static bool IsLegacyMedia(EndpointDescriptor endpoint) =>
        endpoint.Method == "GET" && s_legacyMediaPrefixes.Any(p => endpoint.Template.Text.StartsWith(p, StringComparison.Ordinal));
}
