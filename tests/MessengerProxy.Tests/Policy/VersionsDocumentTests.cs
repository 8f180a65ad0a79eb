using System.Text;
using System.Text.Json;
using MessengerProxy.Policy.Versions;

namespace MessengerProxy.Tests.Policy;

public sealed class VersionsDocumentTests
{
    [Theory]
    [InlineData("v1.11", 1, 11, 0)]
    [InlineData("v1.1", 1, 1, 0)]
    [InlineData("r0.6.1", 0, 6, 1)]
    [InlineData("v2.0", 2, 0, 0)]
    public void TryParse_SpecVersions(string text, int major, int minor, int patch)
    {
        Assert.True(MatrixSpecVersion.TryParse(text, out var version));
        Assert.Equal(new MatrixSpecVersion(major, minor, patch), version);
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.11")]
    [InlineData("v1")]
    [InlineData("v1.11.1")]
    [InlineData("r0.6")]
    [InlineData("v1.12-rc1")]
    [InlineData("v-1.2")]
    [InlineData("v1.9999999")]
    [InlineData("V1.11")]
    public void TryParse_RejectsAnythingElse(string text)
    {
        Assert.False(MatrixSpecVersion.TryParse(text, out _));
    }

    [Fact]
    public void Filter_KeepsVersionsUpToMaximumAndAllowedUnstableFeatures()
    {
        var input = """{"server":"x","versions":["r0.0.1","r0.6.1","v1.1","v1.11","v1.12","v1.13","v2.0","nonsense",5],"unstable_features":{"org.matrix.msc3575":true,"org.example.ok":false},"tail":[1]}""";
        var output = VersionsDocument.Filter(Encoding.UTF8.GetBytes(input), MatrixSpecVersion.V1_11, new HashSet<string> { "org.example.ok" });
        Assert.Equal("""{"server":"x","versions":["r0.0.1","r0.6.1","v1.1","v1.11"],"unstable_features":{"org.example.ok":false},"tail":[1]}""", Encoding.UTF8.GetString(output));
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("{}")]
    [InlineData("{\"versions\":\"v1.11\"}")]
    [InlineData("{\"versions\":[\"v1.11\"]} trailing")]
    [InlineData("<html>")]
    public void Filter_NotAVersionsDocument_Throws(string input)
    {
        Assert.Throws<FormatException>(() => VersionsDocument.Filter(Encoding.UTF8.GetBytes(input), MatrixSpecVersion.V1_11, new HashSet<string>()));
    }

    [Fact]
    public void Filter_DeepNesting_IsRefused()
    {
        var deep = "{\"versions\":[],\"x\":" + new string('[', 100) + new string(']', 100) + "}";
        Assert.Throws<FormatException>(() => VersionsDocument.Filter(Encoding.UTF8.GetBytes(deep), MatrixSpecVersion.V1_11, new HashSet<string>()));
    }

    [Fact]
    public void Filter_OutputIsValidJson()
    {
        var output = VersionsDocument.Filter("""{"versions":["v1.11","v1.12"]}"""u8.ToArray(), MatrixSpecVersion.V1_11, new HashSet<string>());
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(["v1.11"], doc.RootElement.GetProperty("versions").EnumerateArray().Select(e => e.GetString()));
    }
}
