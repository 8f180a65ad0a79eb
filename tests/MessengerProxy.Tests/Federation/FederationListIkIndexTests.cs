using MessengerProxy.Policy.Federation;
using MessengerProxy.Federation;

namespace MessengerProxy.Tests.Federation;

/// <summary>The IK → insurance index built with each list version, and the entry look-up beside the domain set.</summary>
public sealed class FederationListIkIndexTests
{
    private static readonly FederationList s_list = new(3,
    [
        new FederationDomain("kk.example", "t1", IsInsurance: true) { Ik = ["109500969", " 101575519 "] },
        new FederationDomain("second-kk.example", "t2", IsInsurance: true) { Ik = ["109500969", "108310400"] },
        new FederationDomain("praxis.example", "t3", IsInsurance: false) { Ik = ["123456789"] },
    ]);

    [Theory]
    [InlineData("109500969", "kk.example")] // claimed twice: the first in the list keeps it
    [InlineData("101575519", "kk.example")]
    [InlineData("108310400", "second-kk.example")]
    public void TryFindInsurerByIk_FindsTheInsurance(string ik, string domain)
    {
        Assert.True(s_list.TryFindInsurerByIk(ik, out var found));
        Assert.Equal(domain, found);
    }

    [Theory]
    [InlineData("123456789")] // a non-insurance's IK is not indexed
    [InlineData("999999999")]
    [InlineData("")]
    public void TryFindInsurerByIk_Misses(string ik) => Assert.False(s_list.TryFindInsurerByIk(ik, out _));

    [Fact]
    public void IkCount_CountsDistinctInsuranceIks() => Assert.Equal(3, s_list.IkCount);

    [Fact]
    public void TryGetEntry_IgnoresLetterCase() =>
        Assert.True(s_list.TryGetEntry("KK.example", out var entry) && entry.IsInsurance);

    [Fact]
    public void LookUps_AllocateNothing()
    {
        ReadOnlySpan<char> ik = "108310400-trailing".AsSpan(0, 9);
        ReadOnlySpan<char> domain = "host praxis.example".AsSpan(5);
        s_list.TryFindInsurerByIk(ik, out _);
        s_list.TryGetEntry(domain, out _);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            s_list.TryFindInsurerByIk(ik, out _);
            s_list.TryGetEntry(domain, out _);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
