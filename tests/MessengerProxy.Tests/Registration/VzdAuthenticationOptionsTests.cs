using MessengerProxy.Registration.Configuration;
using MessengerProxy.Tests.TestKit;

namespace MessengerProxy.Tests.Registration;

/// <summary>Start-up validation of the VZD credentials: every problem named by its key, no secret in any message.</summary>
public sealed class VzdAuthenticationOptionsTests
{
    private const string Secret = "do-not-print-this-secret";

    [Fact]
    public void CompleteClientCredentials_AreValid()
    {
        var result = Validate(vzd => { });

        Assert.True(result.Succeeded, string.Join("; ", result.Failures ?? []));
    }

    [Theory]
    [InlineData("no-secret", "Registration:Vzd:ClientId needs exactly one of Registration:Vzd:ClientSecret and Registration:Vzd:ClientSecretFile (got neither)")]
    [InlineData("both-secrets", "Registration:Vzd:ClientId needs exactly one of Registration:Vzd:ClientSecret and Registration:Vzd:ClientSecretFile (got both)")]
    [InlineData("blank-secret", "Registration:Vzd:ClientSecret is only white space")]
    [InlineData("static-token-too", "Registration:Vzd:BearerToken (legacy static token) and Registration:Vzd:ClientId exclude each other")]
    [InlineData("no-token-url", "Registration:Vzd:TokenUrl is required when Registration:Vzd:ClientId is set")]
    [InlineData("no-service-url", "Registration:Vzd:ServiceUrl is required when Registration:Vzd:ClientId is set")]
    [InlineData("relative-token-url", "Registration:Vzd:TokenUrl must be an absolute http:// or https:// URL (got 'auth.vzd.example')")]
    [InlineData("plain-http-token-url", "Registration:Vzd:TokenUrl must use https:// when Registration:Vzd:ClientId is set: it carries credentials")]
    [InlineData("plain-http-list-url", "Registration:Vzd:FederationListUrl must use https:// when Registration:Vzd:ClientId is set")]
    [InlineData("no-list-url", "Registration:Vzd:ClientId is set but Registration:Vzd:FederationListUrl is empty")]
    [InlineData("token-path", "Registration:Vzd:TokenPath must start with '/' and hold neither query nor fragment (got 'auth/realms/x')")]
    [InlineData("negative-margin", "Registration:Vzd:TokenRefreshMargin must not be negative (got -00:00:01)")]
    [InlineData("secret-without-client", "Registration:Vzd:ClientId is required when Registration:Vzd:ClientSecret, ClientSecretFile, TokenUrl or ServiceUrl is set")]
    public void InvalidClientCredentials_AreNamed_WithoutTheSecret(string fault, string expected)
    {
        var result = Validate(vzd =>
        {
            switch (fault)
            {
                case "no-secret": vzd.ClientSecret = null; break;
                case "both-secrets": vzd.ClientSecretFile = typeof(RegistrationOptions).Assembly.Location; break;
                case "blank-secret": vzd.ClientSecret = "   "; break;
                case "static-token-too": vzd.BearerToken = "legacy-token"; break;
                case "no-token-url": vzd.TokenUrl = null; break;
                case "no-service-url": vzd.ServiceUrl = ""; break;
                case "relative-token-url": vzd.TokenUrl = "auth.vzd.example"; break;
                case "plain-http-token-url": vzd.TokenUrl = "http://auth.vzd.example:9443"; break;
                case "plain-http-list-url": vzd.FederationListUrl = "http://fhir.vzd.example/tim-provider-services/FederationList/federationList.jws"; break;
                case "no-list-url": vzd.FederationListUrl = null; break;
                case "token-path": vzd.TokenPath = "auth/realms/x"; break;
                case "negative-margin": vzd.TokenRefreshMargin = TimeSpan.FromSeconds(-1); break;
                case "secret-without-client": vzd.ClientId = null; vzd.FederationListUrl = null; break;
            }
        });

        Assert.False(result.Succeeded);
        Assert.Contains(result.Failures!, f => f.Contains(expected, StringComparison.Ordinal));
        Assert.DoesNotContain(result.Failures!, f => f.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public void SecretFile_MustExistAndHoldASecret_AndItsContentIsNeverQuoted()
    {
        var directory = Directory.CreateTempSubdirectory("mp-vzd-options-").FullName;
        var missing = Path.Combine(directory, "missing");
        var blank = Path.Combine(directory, "blank");
        var good = Path.Combine(directory, "good");
        File.WriteAllText(blank, " \n\t\n");
        File.WriteAllText(good, Secret + "\n");

        var missingResult = Validate(vzd => (vzd.ClientSecret, vzd.ClientSecretFile) = (null, missing));
        var blankResult = Validate(vzd => (vzd.ClientSecret, vzd.ClientSecretFile) = (null, blank));
        var goodResult = Validate(vzd => (vzd.ClientSecret, vzd.ClientSecretFile) = (null, good));

        Assert.Contains($"Registration:Vzd:ClientSecretFile: file '{missing}' does not exist", missingResult.Failures!);
        Assert.Contains($"Registration:Vzd:ClientSecretFile: '{blank}' is empty", blankResult.Failures!);
        Assert.True(goodResult.Succeeded, string.Join("; ", goodResult.Failures ?? []));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void LoopbackStandIns_MayUsePlainHttp()
    {
        var result = Validate(vzd => (vzd.TokenUrl, vzd.ServiceUrl, vzd.FederationListUrl) =
            ("http://127.0.0.1:9443", "http://localhost:8080/", "http://[::1]:8080/tim-provider-services/FederationList/federationList.jws"));

        Assert.True(result.Succeeded, string.Join("; ", result.Failures ?? []));
    }

    private static Microsoft.Extensions.Options.ValidateOptionsResult Validate(Action<VzdOptions> change)
    {
        var options = new RegistrationOptions { ConnectionString = "Host=x", AdminToken = RegistrationHost.AdminToken };
        options.Vzd.TrustAnchors.Add(typeof(RegistrationOptions).Assembly.Location);
        options.Vzd.FederationListUrl = "https://fhir.vzd.example/tim-provider-services/FederationList/federationList.jws";
        options.Vzd.ClientId = "tim-provider";
        options.Vzd.ClientSecret = Secret;
        options.Vzd.TokenUrl = "https://auth.vzd.example:9443";
        options.Vzd.ServiceUrl = "https://fhir.vzd.example";
        change(options.Vzd);
        return new RegistrationOptionsValidator().Validate(null, options);
    }
}
