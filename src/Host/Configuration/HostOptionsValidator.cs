using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Inbound.Configuration;
using MessengerProxy.Outbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host.Configuration;

/// <summary>Validates the health listener and that no two listeners ask for the same port.</summary>
internal sealed class HealthOptionsValidator : IValidateOptions<HealthOptions>
{
    private readonly IOptions<InboundOptions> _inbound;
    private readonly IOptions<OutboundOptions> _outbound;

    public HealthOptionsValidator(IOptions<InboundOptions> inbound, IOptions<OutboundOptions> outbound)
    {
        _inbound = inbound;
        _outbound = outbound;
    }

    public ValidateOptionsResult Validate(string? name, HealthOptions options)
    {
        var errors = new OptionsErrors(HealthOptions.SectionName);
        const string S = HealthOptions.SectionName;
        errors.Port(options.Port);
        errors.BindAddress(options.BindAddress);
        if (string.IsNullOrEmpty(options.HomeserverProbePath) || options.HomeserverProbePath[0] != '/')
        {
            errors.Add($"{S}:HomeserverProbePath must start with '/' (got '{options.HomeserverProbePath}')");
        }

        errors.Positive(options.ProbeTimeout);

        var ports = new List<(string Key, int Port)> { ($"{S}:Port", options.Port) };
        ports.AddRange(InboundListener.All(_inbound.Value).Select(l => (l.Key("Port"), l.Port)));
        if (_outbound.Value.Enabled)
        {
            ports.Add(($"{OutboundOptions.SectionName}:Port", _outbound.Value.Port));
        }

        foreach (var clash in ports.Where(p => p.Port != 0).GroupBy(p => p.Port).Where(g => g.Count() > 1))
        {
            errors.Add($"{string.Join(", ", clash.Select(p => p.Key))} share port {clash.Key}; every listener needs its own port");
        }

        return errors.Result;
    }
}
