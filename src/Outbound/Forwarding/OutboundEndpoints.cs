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
    /// <summary>Null with the reasons in <paramref name="errors"/> when the settings are wrong.</summary>
    public static EndpointTable? TryBuild(OutboundOptions settings, List<string> errors) =>
        EndpointTableBuilder.TryBuild(OutboundOptions.SectionName, settings.ExtraEndpoints, settings.DeniedEndpoints,
            e => e.Api == MatrixApi.ServerServer || (settings.AllowLegacyMedia && e.Traits.LegacyMedia), errors);
}
