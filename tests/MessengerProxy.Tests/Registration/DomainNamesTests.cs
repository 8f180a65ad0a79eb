using System.Globalization;
using MessengerProxy.Registration.Validation;

namespace MessengerProxy.Tests.Registration;

/// <summary>
/// The one domain-name normaliser: ASCII is checked before any case folding, so a look-alike never becomes
/// the name it imitates; internationalised names are accepted only as A-labels.
/// </summary>
public sealed class DomainNamesTests
{
    [Theory]
    [InlineData("\u212Aey.example.org", "KELVIN SIGN, lower-cases to 'k'")]
    [InlineData("\u212Bngstrom.example.org", "ANGSTROM SIGN, lower-cases to U+00E5")]
    [InlineData("\uFF4Bey.example.org", "FULLWIDTH LATIN SMALL LETTER K")]
    [InlineData("\uFF2B\uFF25\uFF39.example.org", "FULLWIDTH capitals")]
    [InlineData("key\uFF0Eexample.org", "FULLWIDTH FULL STOP, IDNA maps it to '.'")]
    [InlineData("key\u3002example.org", "IDEOGRAPHIC FULL STOP, IDNA maps it to '.'")]
    [InlineData("w\u0131ki.example.org", "dotless i")]
    [InlineData("W\u0130KI.example.org", "capital I with dot above")]
    [InlineData("stra\u00DFe.example.org", "sharp s")]
    [InlineData("STRA\u1E9EE.example.org", "capital sharp s")]
    [InlineData("b\u00FCcher.example.org", "a U-label: must be given as its A-label")]
    [InlineData("exampl\u0435.org", "CYRILLIC SMALL LETTER IE")]
    [InlineData("key.example.org\u200B", "ZERO WIDTH SPACE")]
    public void NonAsciiForms_AreRefused_NeverFolded(string input, string what)
    {
        Assert.False(DomainNames.TryNormalize(input, out var domain, out var error), what);
        Assert.Equal(string.Empty, domain);
        Assert.Contains("non-ASCII", error);
        Assert.Contains("xn--", error);
    }

    [Theory]
    [InlineData("XN--BCHER-KVA.Example.ORG", "xn--bcher-kva.example.org")]
    [InlineData("xn--strae-oqa.example.org", "xn--strae-oqa.example.org")]
    [InlineData("Key.Example.Org", "key.example.org")]
    public void AsciiAndALabels_AreLowerCased(string input, string expected)
    {
        Assert.True(DomainNames.TryNormalize(input, out var domain, out var error), error);
        Assert.Equal(expected, domain);
    }

    [Theory]
    [InlineData("xn--zz.example.org", "not Punycode")]
    [InlineData("xn--bung-fna.example.org", "decodes to 'Übung' with a capital U-umlaut")]
    [InlineData("xn--ey-0qu.example.org", "decodes to KELVIN SIGN + 'ey', an upper-case look-alike of 'key'")]
    [InlineData("xn--a.example.org", "decodes to a C1 control character")]
    public void ALabelsThatAreNotTheEncodingOfALowerCaseULabel_AreRefused(string input, string what)
    {
        Assert.False(DomainNames.TryNormalize(input, out _, out var error), what);
        Assert.Contains("not a valid A-label", error);
    }

    [Fact]
    public void LowerCasing_DoesNotDependOnTheCurrentCulture()
    {
        // In Turkish, 'I' lower-cases to dotless 'ı'. The repository builds with invariant globalisation,
        // where no Turkish culture exists (and every culture folds like the invariant one); should that
        // setting ever change, this test runs under tr-TR and catches a culture-sensitive ToLower.
        var previous = CultureInfo.CurrentCulture;
        try
        {
            CultureInfo.CurrentCulture = TryTurkish() ?? CultureInfo.InvariantCulture;
            Assert.True(DomainNames.TryNormalize("WIKI.INFO.EXAMPLE", out var domain, out var error), error);
            Assert.Equal("wiki.info.example", domain);
            Assert.True(DomainNames.TryNormalizeServerName("WIKI.EXAMPLE:8448", out var serverName));
            Assert.Equal("wiki.example:8448", serverName);
        }
        finally
        {
            CultureInfo.CurrentCulture = previous;
        }
    }

    [Theory]
    [InlineData("\u212Aey.example.org")]
    [InlineData("\uFF4Bey.example.org:8448")]
    public void ServerNames_RefuseNonAsciiToo(string input) =>
        Assert.False(DomainNames.TryNormalizeServerName(input, out _));

    private static CultureInfo? TryTurkish()
    {
        try
        {
            return CultureInfo.GetCultureInfo("tr-TR");
        }
        catch (CultureNotFoundException)
        {
            return null;
        }
    }
}
