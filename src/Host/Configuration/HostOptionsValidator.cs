using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Inbound.Configuration;
using Microsoft.Extensions.Options;

namespace MessengerProxy.Host.Configuration;

/// <summary>Validates the health listener and that no two listeners ask for the same port.</summary>
internal sealed class HealthOptionsValidator : IValidateOptions<HealthOptions>
{
    private readonly IOptions<InboundOptions> _inbound;

    public HealthOptionsValidator(IOptions<InboundOptions> inbound) => _inbound = inbound;

    public ValidateOptionsResult Validate(string? name, HealthOptions options)
    {
        var errors = new List<string>();
        const string S = HealthOptions.SectionName;
        ListenerAddresses.CheckPort(errors, $"{S}:Port", options.Port);
        ListenerAddresses.Check(errors, $"{S}:BindAddress", options.BindAddress);
        if (string.IsNullOrEmpty(options.HomeserverProbePath) || options.HomeserverProbePath[0] != '/')
        {
            errors.Add($"{S}:HomeserverProbePath must start with '/' (got '{options.HomeserverProbePath}')");
        }

        if (options.ProbeTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{S}:ProbeTimeout must be positive (got {options.ProbeTimeout})");
        }

        var inboundPort = _inbound.Value.Port;
        if (options.Port != 0 && options.Port == inboundPort)
        {
            errors.Add($"{S}:Port {options.Port} clashes with {InboundOptions.SectionName}:Port; every listener needs its own port");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
