using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Policy.Endpoints;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Inbound.Pipeline;

/// <summary>The inbound allowlist: the Matrix v1.11 table with the operator's additions and denials applied, and the TIM rulebook in its traits.</summary>
internal sealed class InboundEndpoints
{
    // Indexed by ListenerApis: a listener matches against the rows it serves only, so a path of another
    // listener's API is unknown there (404, no Allow header, no preflight), like any path outside the table.
    private readonly EndpointMatcher[] _matchers;

    public InboundEndpoints(IOptions<InboundOptions> options, TimRulebook tim)
    {
        var errors = new List<string>();
        var table = TryBuildTable(options.Value, errors)?.WithTim(tim)
            ?? throw new OptionsValidationException(InboundOptions.SectionName, typeof(InboundOptions), errors);
        _matchers = new EndpointMatcher[(int)ListenerApis.All + 1];
        for (var apis = ListenerApis.None; apis <= ListenerApis.All; apis++)
        {
            var served = apis;
            _matchers[(int)apis] = apis == ListenerApis.All ? new EndpointMatcher(table) : new EndpointMatcher(table.Where(e => (e.Traits.ServedOn & served) != 0));
        }

        LogPath = new LogPath(table);
    }

    /// <summary>The whole table, whatever listener a request came from.</summary>
    public EndpointMatcher Matcher => _matchers[(int)ListenerApis.All];

    /// <summary>The rows a listener serving <paramref name="apis"/> answers.</summary>
    public EndpointMatcher MatcherFor(ListenerApis apis) => _matchers[(int)(apis & ListenerApis.All)];

    /// <summary>How refused paths are written to the log without the identifiers they may hold.</summary>
    public LogPath LogPath { get; }

    /// <summary>Builds the table from the settings; null with the reasons in <paramref name="errors"/> when they are wrong.</summary>
    internal static EndpointTable? TryBuildTable(InboundOptions settings, List<string> errors) =>
        EndpointTableBuilder.TryBuild(InboundOptions.SectionName, settings.ExtraEndpoints, settings.DeniedEndpoints, rows: null, errors);
}
