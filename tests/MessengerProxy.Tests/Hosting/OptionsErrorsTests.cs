using MessengerProxy.Federation;
using MessengerProxy.Hosting.Configuration;
using MessengerProxy.Registration.Configuration;

namespace MessengerProxy.Tests.Hosting;

/// <summary>One validation style: every check reports into one collector, keys come from the property expression.</summary>
public sealed class OptionsErrorsTests
{
    [Fact]
    public void Checks_NameTheKeyOfTheExpression_AndCollectEveryProblem()
    {
        var options = new RegistrationOptions { Port = 70000, MaxBodyBytes = 0, MaxListAge = TimeSpan.Zero };
        options.Vzd.RequestTimeout = TimeSpan.Zero;
        var errors = new OptionsErrors(RegistrationOptions.SectionName);

        errors.Port(options.Port);
        errors.Positive(options.MaxBodyBytes);
        errors.Positive(options.MaxListAge);
        errors.Positive(options.Vzd.RequestTimeout);
        errors.BindAddressAt("Registration:HealthBindAddress", "nowhere");

        Assert.Equal(
            [
                "Registration:Port must be between 0 and 65535 (got 70000)",
                "Registration:MaxBodyBytes must be positive (got 0)",
                "Registration:MaxListAge must be positive (got 00:00:00)",
                "Registration:Vzd:RequestTimeout must be positive (got 00:00:00)",
                "Registration:HealthBindAddress must be '*', 'localhost' or an IP address (got 'nowhere')",
            ],
            errors.Messages);
        Assert.True(errors.Result.Failed);
    }

    [Fact]
    public void RegistrationValidator_NamesEachVzdTimingOnItsOwn()
    {
        // The two keys were once reported in one sentence; each problem now names its own key and value.
        var options = new RegistrationOptions { ConnectionString = "Host=x", AdminToken = new string('a', 32) };
        options.Vzd.PollInterval = TimeSpan.FromMilliseconds(10);
        options.Vzd.RequestTimeout = TimeSpan.Zero;

        var failures = new RegistrationOptionsValidator().Validate(null, options).Failures!;

        Assert.Contains("Registration:Vzd:PollInterval must be at least 1 s (got 00:00:00.0100000)", failures);
        Assert.Contains("Registration:Vzd:RequestTimeout must be positive (got 00:00:00)", failures);
    }

    [Fact]
    public void FederationValidator_ReportsEveryTimingProblem()
    {
        var options = new FederationOptions
        {
            PollInterval = TimeSpan.Zero, MaxAge = TimeSpan.Zero, UnknownDomainRefreshInterval = TimeSpan.Zero, RequestTimeout = TimeSpan.Zero, MaxListBytes = 0,
            ServerName = "not a name",
        };

        var failures = new FederationOptionsValidator().Validate(null, options).Failures!;

        Assert.Equal(
            [
                "Federation:ServerName must be a Matrix server name like example.org (got 'not a name')",
                "Federation:PollInterval must be positive (got 00:00:00)",
                "Federation:MaxAge must be positive (got 00:00:00)",
                "Federation:UnknownDomainRefreshInterval must be positive (got 00:00:00)",
                "Federation:RequestTimeout must be positive (got 00:00:00)",
                "Federation:MaxListBytes must be positive (got 0)",
            ],
            failures);
    }
}
